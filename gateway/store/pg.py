"""The store on PostgreSQL: several gateway nodes share one quarantine, register and
audit chain.

``PgStore`` is the SQLite ``Store`` with its connection swapped for a pool of psycopg 3
connections (autocommit: a statement is durable when it returns, as on SQLite).  The
SQL is the store's own, its ``?`` placeholders turned into psycopg's; a transaction
holds one pooled connection, which every read and write of the same task uses until it
ends (a context variable).  What SQLite gets from having one writer, several nodes get
from PostgreSQL: compare-and-set updates, and advisory locks (``serialise``) where a
transaction reads before it writes (the audit chain's head, the next register
version, account names).  Every node must open the store with the same master key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from gateway.crypto import KeyRing
from gateway.errors import ConfigError
from gateway.settings import PG_URL_PREFIXES
from gateway.store.base import guard
from gateway.store.db import LIST_SQL, Store
from gateway.store.pg_schema import pg_migrate

T = TypeVar("T")

#: seconds a statement waits for a pooled connection before the store reports the
#: database unreachable (the SMTP client then gets a 4xx and keeps the message)
CONNECT_TIMEOUT_S = 10.0
POOL_SIZE = 10
#: the channel on which a node announces a new register version to the others
CHANGES = "gateway_register"

# The connection of the transaction the current task is in, if any.
_in_transaction: ContextVar[psycopg.AsyncConnection | None] = ContextVar(
    "gateway_pg_transaction", default=None
)

_PG_LIST = LIST_SQL.format(
    case_found="EXISTS (SELECT 1 FROM jsonb_array_elements(messages.findings::jsonb) AS f"
    " WHERE f ->> 'case' = ?)"
)
_PG_RULE_COUNTS = """
    SELECT rule, count(*) FROM messages, jsonb_array_elements_text(messages.rules::jsonb) AS rule
    WHERE messages.false_positive >= ? GROUP BY rule
"""


@lru_cache(maxsize=512)
def pg_sql(sql: str) -> bytes:
    """The store's SQL for psycopg: each ``?`` outside quotes becomes ``%s``, and a
    literal ``%`` becomes ``%%``."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        if char == "%":
            out.append("%%")
            continue
        out.append(char)
    return "".join(out).encode()


def redacted(url: str) -> str:
    """``url`` without its password, for messages and health reports."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class PgStore(Store):
    """The store in a PostgreSQL database; open with ``PgStore.open_pg``."""

    _LIST = _PG_LIST
    _RULE_COUNTS = _PG_RULE_COUNTS

    def __init__(
        self, pool: AsyncConnectionPool, keys: KeyRing, url: str, local: Path | None = None
    ) -> None:
        self._pool = pool
        self._keys = keys
        self._url = url
        # This node's own files (the sealed register index) go beside this path, as
        # they go beside the SQLite file of a single node.
        self.path = local or Path("data") / "gateway.sqlite3"
        # SQLite's writer lock has nothing to do here: each transaction has its own
        # connection.
        self._writing = contextlib.nullcontext()  # type: ignore[assignment]
        self._listener: psycopg.AsyncConnection | None = None  # wait_for_change's

    def __repr__(self) -> str:
        return f"PgStore(url={self.url!r}, key={self._keys.id.hex()})"

    @property
    def url(self) -> str:
        return redacted(self._url)

    @classmethod
    async def open_pg(
        cls, url: str, keys: KeyRing, local: Path | None = None, pool_size: int = POOL_SIZE
    ) -> PgStore:
        """Connect to the database at ``url``, bring its schema up to date (one node at
        a time) and check that ``keys`` sealed it.  ``local``: where this node keeps its
        own files (``data_dir/gateway.sqlite3``: beside it, not in it)."""
        pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            # No check of each connection before use (a round trip per statement): a
            # connection a database restart broke fails one statement (a StoreError,
            # so a 4xx) and the pool replaces it.
            kwargs={"autocommit": True},
            timeout=CONNECT_TIMEOUT_S,
            open=False,
            name="gateway-store",
        )
        store = cls(pool, keys, url, local)
        try:
            with guard(f"open the database {store.url}"):
                await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
                async with pool.connection() as conn:
                    new = await pg_migrate(conn)
                await store._check_key()
            from gateway.review.audit import ensure_genesis  # noqa: PLC0415

            await ensure_genesis(store, new)
            store.start_indexing_older()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self.stop_indexing()
        await self._drop_listener()
        await self._pool.close()

    async def _run(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """``work`` on the current transaction's connection, or on a pooled one."""
        conn = _in_transaction.get()
        if conn is not None:
            return await work(conn)
        async with self._pool.connection() as pooled:
            return await work(pooled)

    async def _changed(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        async def work(conn: psycopg.AsyncConnection) -> int:
            cursor = await conn.execute(pg_sql(sql), params)
            return cursor.rowcount

        return await self._run(work)

    async def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async def work(conn: psycopg.AsyncConnection) -> Any:
            cursor = await conn.execute(pg_sql(sql), params)
            return await cursor.fetchone()

        return await self._run(work)

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async def work(conn: psycopg.AsyncConnection) -> list[Any]:
            cursor = await conn.execute(pg_sql(sql), params)
            return list(await cursor.fetchall())

        return await self._run(work)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        if _in_transaction.get() is not None:
            raise RuntimeError("store: a transaction inside a transaction")
        async with self._pool.connection() as conn, conn.transaction():
            token = _in_transaction.set(conn)
            try:
                yield
            finally:
                _in_transaction.reset(token)

    @asynccontextmanager
    async def job(self, name: str) -> AsyncIterator[bool]:
        """A session advisory lock on a pooled connection held for the chore (the
        chore's own statements use other connections); released when it ends, or by
        the server when the node dies."""
        key = f"gateway-job:{name}"
        with guard(f"take the {name} lock"):
            conn = await self._pool.getconn()
        try:
            with guard(f"take the {name} lock"):
                cursor = await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,))
                row = await cursor.fetchone()
            mine = bool(row and row[0])
            try:
                yield mine
            finally:
                if mine:
                    with contextlib.suppress(psycopg.Error):
                        await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        finally:
            await self._pool.putconn(conn)

    async def wait_for_change(self, timeout: float) -> None:
        """LISTEN on a connection of its own for a register change (NOTIFY at commit);
        without the connection (a database outage), a plain wait: the caller polls."""
        try:
            if self._listener is None or self._listener.closed:
                self._listener = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_S)
                )
                await self._listener.execute(f"LISTEN {CHANGES}".encode())
            async for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                return
        except psycopg.Error:
            await self._drop_listener()
            await asyncio.sleep(timeout)

    async def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(psycopg.Error):
                await listener.close()

    async def announce_change(self) -> None:
        await self._one("SELECT pg_notify(?, '')", (CHANGES,))

    async def serialise(self, what: str) -> None:
        if _in_transaction.get() is None:
            raise RuntimeError("store: serialise() outside a transaction")
        await self._one("SELECT pg_advisory_xact_lock(hashtext(?))", (f"gateway:{what}",))

    @asynccontextmanager
    async def _audit_guards_off(self) -> AsyncIterator[None]:
        # ALTER TABLE takes the table's lock until the transaction ends: no other node
        # appends to the audit chain meanwhile.
        await self._changed("ALTER TABLE audit DISABLE TRIGGER audit_no_change")
        yield
        await self._changed("ALTER TABLE audit ENABLE TRIGGER audit_no_change")


def is_pg_url(url: str) -> bool:
    """True for a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    return url.startswith(PG_URL_PREFIXES)


def check_pg_url(url: str) -> str:
    """``url`` if libpq can read it; a ``ConfigError`` naming the problem otherwise."""
    if not is_pg_url(url):
        raise ConfigError("store: the URL must start with postgresql:// (or sqlite: for a file)")
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"store: cannot read the URL {redacted(url)} ({exc})") from None
    return url
