"""Open the store the settings name: SQLite (one node) or PostgreSQL (several)."""

from __future__ import annotations

from pathlib import Path

from gateway.crypto import KeyRing
from gateway.errors import ConfigError
from gateway.settings import Settings
from gateway.store.base import guard
from gateway.store.db import Store

NO_SHARED_KEY = (
    "{path}: no master key file.  Nodes sharing a PostgreSQL store share one key: make "
    "it once with `gateway keygen --key-file PATH` and copy it to every node (a key made "
    "here would not open what the other nodes sealed)"
)


def store_keys(settings: Settings, *, create: bool = False) -> tuple[KeyRing, bool]:
    """The master key for the settings' store, and whether it was made now: made only
    for a new SQLite store with ``create``; a PostgreSQL store's key is never made here."""
    insecure = settings.allow_insecure_key_permissions
    if settings.store and not settings.key_path.exists():
        raise ConfigError(NO_SHARED_KEY.format(path=settings.key_path))
    if create and not settings.store:
        return KeyRing.for_store(settings.key_path, settings.database, allow_insecure=insecure)
    return KeyRing.load(settings.key_path, allow_insecure=insecure), False


def store_exists(settings: Settings) -> bool:
    """True when the settings name a store that may hold something: a PostgreSQL URL
    (the database says at open) or an SQLite file that exists."""
    return bool(settings.store) or settings.database.exists()


async def open_settings_store(settings: Settings, keys: KeyRing) -> Store:
    """The store the settings name, open."""
    return await open_store(settings.store, settings.database, keys)


async def open_store(url: str, database: Path, keys: KeyRing) -> Store:
    """The PostgreSQL store at ``url`` (``postgresql://...``), or, when ``url`` is empty,
    the SQLite file ``database``."""
    if not url:
        return await Store.open(database, keys)
    from gateway.store.pg import PgStore, check_pg_url  # noqa: PLC0415 (psycopg on demand)

    with guard(f"make the folder {database.parent}"):  # for this node's own files
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return await PgStore.open_pg(check_pg_url(url), keys, local=database)
