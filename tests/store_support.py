"""The store tests' view of the database underneath, whichever it is (SQLite or
PostgreSQL): opening a test store, reading every stored byte, and changing rows behind
the store's back, as someone with SQL access to the database could."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg

from gateway.crypto import KeyRing
from gateway.store import Store
from gateway.store.opening import open_store
from gateway.store.pg import PgStore

#: what the database says when something changes the audit table
APPEND_ONLY = "append-only"


async def open_test_store(url: str, folder: Path, keys: KeyRing) -> Store:
    """The store ``url`` names ('' for SQLite: ``folder/data/gateway.sqlite3``)."""
    return await open_store(url, folder / "data" / "gateway.sqlite3", keys)


def _pg_url(store: Store) -> str | None:
    return store._url if isinstance(store, PgStore) else None


def stored_bytes(store: Store) -> bytes:
    """Everything the database holds for ``store``: the SQLite file with its WAL and
    shared memory, or every value of every PostgreSQL table, bytes as they are."""
    url = _pg_url(store)
    if url is None:
        files = sorted(store.path.parent.glob(store.path.name + "*"))
        return b"".join(p.read_bytes() for p in files)
    out = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'.encode()):  # noqa: S608
                for value in row:
                    out.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(out)


def raw_sql(store: Store, *statements: str, audit_guards_off: bool = False) -> None:
    """Run ``statements`` on the database in one transaction, around the store;
    ``audit_guards_off``: with the audit table's append-only triggers set aside."""
    url = _pg_url(store)
    if url is None:
        with closing(sqlite3.connect(store.path)) as db, db:
            if audit_guards_off:
                db.execute("DROP TRIGGER IF EXISTS audit_no_update")
                db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
            for statement in statements:
                db.execute(statement)
        return
    with psycopg.connect(url) as conn, conn.transaction():
        if audit_guards_off:
            conn.execute("ALTER TABLE audit DISABLE TRIGGER USER")
        for statement in statements:
            conn.execute(statement.encode())
        if audit_guards_off:
            conn.execute("ALTER TABLE audit ENABLE TRIGGER USER")


def raw_insert(store: Store, table: str, row: tuple[Any, ...]) -> None:
    """Insert ``row`` into ``table`` behind the store's back."""
    marks = ", ".join("?" * len(row))
    url = _pg_url(store)
    if url is None:
        with closing(sqlite3.connect(store.path)) as db, db:
            db.execute(f"INSERT INTO {table} VALUES ({marks})", row)  # noqa: S608
        return
    with psycopg.connect(url) as conn:
        sql = f"INSERT INTO {table} VALUES ({marks.replace('?', '%s')})"  # noqa: S608
        conn.execute(sql.encode(), row)


def refusal(store: Store, statement: str) -> str:
    """The error the database gives for ``statement`` ('' if it ran)."""
    url = _pg_url(store)
    try:
        if url is None:
            with closing(sqlite3.connect(store.path)) as db, db:
                db.execute(statement)
        else:
            with psycopg.connect(url) as conn:
                conn.execute(statement.encode())
    except (sqlite3.Error, psycopg.Error) as exc:
        return str(exc)
    return ""


async def reopened(store: Store) -> Store:
    """``store`` closed and opened again (by a new process, as it were)."""
    await store.close()
    url = _pg_url(store)
    if url is None:
        return await Store.open(store.path, store.keys)
    return await PgStore.open_pg(url, store.keys)


def is_pg(store: Store) -> bool:
    return isinstance(store, PgStore)
