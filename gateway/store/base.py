"""The store's connection: reads, durable writes and transactions, errors mapped.

One aiosqlite connection in autocommit mode (WAL, ``synchronous=FULL``): a single
statement is durable when it returns; several statements that must land together run
in an explicit ``BEGIN IMMEDIATE`` transaction, and a lock keeps every write out of
another coroutine's open transaction.  ``pg.py`` gives the same interface over a pool
of PostgreSQL connections, for several gateway nodes on one database: the store's SQL
is written once, in the dialect both accept (``?`` parameters, ``ON CONFLICT``, no
JSON functions, ``"user"`` quoted).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.crypto import KeyRing
from gateway.store.model import AuditEvent, StoreError

try:  # PostgreSQL is optional: a single node on SQLite does not need psycopg
    import psycopg
    import psycopg_pool

    DATABASE_ERRORS: tuple[type[BaseException], ...] = (
        sqlite3.Error,
        OSError,
        psycopg.Error,
        psycopg_pool.PoolTimeout,
    )
except ImportError:  # pragma: no cover - psycopg is a dependency of the package
    DATABASE_ERRORS = (sqlite3.Error, OSError)


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Map the database's own errors (disk full, read-only, corrupt, unreachable) to
    ``StoreError``."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        raise StoreError(f"store: cannot {what} ({exc.__class__.__name__}: {exc})") from exc


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Connection:
    """The SQLite connection and the master key the store's parts share."""

    # Told of each audit record once it is committed (``gateway.review.siem``); it must
    # not block nor raise.
    audit_sink: Callable[[AuditEvent], None] | None = None

    def __init__(self, db: aiosqlite.Connection, keys: KeyRing, path: Path) -> None:
        self._db = db
        self._keys = keys
        self.path = path
        # One connection serves every coroutine: a write must never land inside another
        # coroutine's open transaction (its rollback would take the write with it).
        self._writing = asyncio.Lock()

    @property
    def keys(self) -> KeyRing:
        return self._keys

    @property
    def url(self) -> str:
        """Where the store is, for messages and health reports (no password)."""
        return f"sqlite:{self.path}"

    async def serialise(self, what: str) -> None:
        """Inside a transaction: wait until no other transaction (of any process) that
        serialised ``what`` is open.  SQLite's ``BEGIN IMMEDIATE`` already gives that."""

    @asynccontextmanager
    async def job(self, name: str) -> AsyncIterator[bool]:
        """Run a chore that must not run on two nodes at once: yields True when this
        process has it (always, on SQLite, which one process serves), False when
        another node is running it now."""
        yield True

    async def wait_for_change(self, timeout: float) -> None:
        """Return when another process may have changed the register, or after
        ``timeout`` seconds; the caller then reads the version.  (SQLite has no way to
        tell: this waits ``timeout``.)"""
        await asyncio.sleep(timeout)

    async def announce_change(self) -> None:
        """Inside the transaction that stores a register version: tell the processes
        waiting in ``wait_for_change`` once it commits (nothing to do on SQLite)."""

    async def ping(self) -> None:
        """A round trip to the database; ``StoreError`` if it cannot be reached."""
        await self.fetch_one("SELECT 1")

    async def fetch_one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """One row of a read, for the review tables; ``StoreError`` on failure."""
        with guard("read"):
            return await self._one(sql, params)

    async def fetch_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Every row of a read, for the review tables; ``StoreError`` on failure."""
        with guard("read"):
            return await self._all(sql, params)

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One durable write; how many rows it changed.  ``StoreError`` on failure."""
        with guard("write"):
            async with self._writing:
                return await self._changed(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Callable[..., Awaitable[int]]]:
        """Several writes that land together: yields ``write(sql, params) -> rowcount``."""
        with guard("write"):
            async with self._writing, self._transaction():
                yield self._changed

    async def _changed(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        cursor = await self._db.execute(sql, params)
        changed = cursor.rowcount
        await cursor.close()
        return changed

    async def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        async with self._db.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
        return row

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            await self._db.rollback()
            raise
        await self._db.commit()
