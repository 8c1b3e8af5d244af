"""Open the store the settings name: SQLite (one node) or PostgreSQL (several)."""

from __future__ import annotations

from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.db import Store


async def open_store(url: str, database: Path, keys: KeyRing) -> Store:
    """The PostgreSQL store at ``url`` (``postgresql://...``), or, when ``url`` is empty,
    the SQLite file ``database``."""
    if not url:
        return await Store.open(database, keys)
    from gateway.store.pg import PgStore, check_pg_url  # noqa: PLC0415 (psycopg on demand)

    return await PgStore.open_pg(check_pg_url(url), keys)
