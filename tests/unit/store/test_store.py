"""The SQLite store: durable holds, sealed columns, register versions, key rotation."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.crypto import KeyRing, SealError
from gateway.errors import ConfigError, RegisterError
from gateway.store import HeldMessage, Store, StoreError, new_message_id
from gateway.store.schema import MIGRATIONS
from tests.store_support import open_test_store, stored_bytes

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
EXAMPLE = SHARED / "contracts" / "register.example.yaml"
CANARY = "27 Kingfisher Road"
SENDER = "worker@council.example.gov.uk"
RCPT = "mark.whitmore@example.com"


def _message(body: str = f"She now lives at Flat 3, {CANARY}, Leeds.") -> HeldMessage:
    raw = f"From: {SENDER}\r\nTo: {RCPT}\r\nSubject: x\r\n\r\n{body}\r\n".encode()
    return HeldMessage(
        id=new_message_id(),
        received_at=dt.datetime(2025, 5, 1, 9, 30, tzinfo=dt.UTC),
        mail_from=SENDER,
        rcpt_tos=(RCPT,),
        raw=raw,
        action="quarantine",
        severity="critical",
        rules=("protected-address-to-restricted",),
        findings=[
            {
                "kind": "protected_address",
                "case": "DA-2025-0142",
                "location": "body",
                "confidence": "high",
                "score": 97.5,
            }
        ],
        evidence=[{"finding": 0, "location": "body", "start": 17, "end": 55, "text": CANARY}],
    )


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    """A master key for the test's store."""
    return KeyRing.generate(tmp_path / "keys" / "master.key")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's database lives (the folder does not exist yet)."""
    return tmp_path / "data" / "gateway.sqlite3"


@pytest_asyncio.fixture
async def store(store_url: str, tmp_path: Path, keys: KeyRing) -> AsyncIterator[Store]:
    """An open store on each database (SQLite, PostgreSQL), closed after the test."""
    opened = await open_test_store(store_url, tmp_path, keys)
    yield opened
    await opened.close()


@pytest_asyncio.fixture
async def sqlite_store(db_path: Path, keys: KeyRing) -> AsyncIterator[Store]:
    """An open SQLite store, for what only a file has (modes, pragmas, a full disk)."""
    opened = await Store.open(db_path, keys)
    yield opened
    await opened.close()


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


@pytest.mark.asyncio
async def test_open_creates_the_database_in_wal_mode(sqlite_store: Store, db_path: Path) -> None:
    """A new store is a WAL database at the newest schema version, readable only by us."""
    assert "wal" == _pragma(db_path, "journal_mode")
    with sqlite3.connect(db_path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_version")]
    assert list(range(1, len(MIGRATIONS) + 1)) == versions
    assert 0o600 == db_path.stat().st_mode & 0o777


@pytest.mark.asyncio
async def test_migrations_are_not_applied_twice(db_path: Path, keys: KeyRing) -> None:
    """Opening an existing database again keeps one schema_version row per migration."""
    for _ in range(3):
        await (await Store.open(db_path, keys)).close()
    with sqlite3.connect(db_path) as db:
        count = db.execute("SELECT count(*) FROM schema_version").fetchone()[0]
    assert len(MIGRATIONS) == count


@pytest.mark.asyncio
async def test_a_held_message_survives_close_and_reopen(
    store_url: str, tmp_path: Path, keys: KeyRing
) -> None:
    """hold commits before it returns; a new connection reads the same message back."""
    msg = _message()
    store = await open_test_store(store_url, tmp_path, keys)
    assert msg.id == await store.hold(msg)
    await store.close()
    reopened = await open_test_store(store_url, tmp_path, keys)
    try:
        assert msg == await reopened.get(msg.id)
    finally:
        await reopened.close()


@pytest.mark.asyncio
async def test_sealed_columns_do_not_hold_plaintext(store: Store) -> None:
    """Neither the database (nor SQLite's WAL) contains the message text, sender or
    evidence."""
    await store.hold(_message())
    await store.import_register(EXAMPLE.read_text(), str(EXAMPLE))
    stored = stored_bytes(store)
    for canary in (CANARY, SENDER, RCPT, "Sarah Jane Whitmore", "07700 900461"):
        assert canary.encode() not in stored, canary
    assert b"protected_address" in stored  # findings stay in clear for listing


@pytest.mark.asyncio
async def test_list_and_count_show_no_secret_fields(store: Store) -> None:
    """Summaries carry the verdict, finding kinds and size, oldest first."""
    first, second = _message(), _message("nothing here")
    await store.hold(first)
    await store.hold(second)
    await store.set_status(second.id, "released")
    summaries = await store.list_held()
    assert [first.id, second.id] == [s.id for s in summaries]
    assert ("protected_address",) == summaries[0].finding_kinds
    assert len(first.raw) == summaries[0].size
    assert [first.id] == [s.id for s in await store.list_held(status="held")]
    assert 1 == await store.count_held()


@pytest.mark.asyncio
async def test_set_status_on_an_unknown_id_fails(store: Store) -> None:
    """Changing the status of a message that is not there is a StoreError."""
    with pytest.raises(StoreError, match="no message"):
        await store.set_status("Qmissing", "rejected")


@pytest.mark.asyncio
async def test_get_of_an_unknown_id_is_none(store: Store) -> None:
    """An id that was never held gives None."""
    assert None is await store.get("Qmissing")


@pytest.mark.asyncio
async def test_a_read_only_database_gives_store_error(sqlite_store: Store) -> None:
    """A database that refuses writes makes hold raise StoreError, so SMTP can answer 4xx."""
    await sqlite_store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError, match="hold message"):
        await sqlite_store.hold(_message())


@pytest.mark.asyncio
async def test_a_full_disk_gives_store_error(sqlite_store: Store) -> None:
    """A database that cannot grow makes hold raise StoreError, and nothing half-written."""
    async with sqlite_store._db.execute("PRAGMA page_count") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    await sqlite_store._db.execute(f"PRAGMA max_page_count = {row[0]}")
    with pytest.raises(StoreError):
        await sqlite_store.hold(_message("x" * 200_000))
    assert 0 == await sqlite_store.count_held()


@pytest.mark.asyncio
async def test_another_key_is_refused_at_open(
    store_url: str, keys: KeyRing, tmp_path: Path
) -> None:
    """A key that did not seal the database is a ConfigError before anything is read
    (on PostgreSQL: a node started with another key than the others')."""
    await (await open_test_store(store_url, tmp_path, keys)).close()
    with pytest.raises(ConfigError, match="not the key"):
        await open_test_store(store_url, tmp_path, KeyRing.generate(tmp_path / "other.key"))


@pytest.mark.asyncio
async def test_register_versions_increase_and_load(store: Store) -> None:
    """Each import is a new version; the newest one loads."""
    assert 0 == await store.register_version()
    assert None is await store.load_register()
    text = EXAMPLE.read_text()
    assert 1 == await store.import_register(text, str(EXAMPLE))
    assert 2 == await store.import_register(text, str(EXAMPLE))
    register = await store.load_register()
    assert register is not None
    assert ["DA-2025-0142", "CL-2025-0007"] == [case.id for case in register.cases]
    info = await store.register_info()
    assert (2, 2) == (None if info is None else (info.version, info.cases))


@pytest.mark.asyncio
async def test_an_invalid_register_is_not_stored(store: Store) -> None:
    """A RegisterError from validation reaches the caller and no version is added."""
    with pytest.raises(RegisterError):
        await store.import_register("version: 1\ncases: [{id: C1}]\n", "bad.yaml")
    assert 0 == await store.register_version()


@pytest.mark.asyncio
async def test_remove_case_makes_a_new_version_without_it(store: Store) -> None:
    """Removing a case keeps everything else, including the protected locations."""
    await store.import_register(EXAMPLE.read_text(), str(EXAMPLE))
    assert 2 == await store.remove_case("CL-2025-0007")
    register = await store.load_register()
    assert register is not None
    assert ["DA-2025-0142"] == [case.id for case in register.cases]
    assert ["refuge-north"] == [p.id for p in register.protected_locations]
    assert "Sarah Jane Whitmore" == register.cases[0].protected[0].name


@pytest.mark.asyncio
async def test_remove_an_unknown_case_fails(store: Store) -> None:
    """An unknown case id is a ConfigError, and the version stays."""
    await store.import_register(EXAMPLE.read_text(), str(EXAMPLE))
    with pytest.raises(ConfigError, match="no case"):
        await store.remove_case("NO-SUCH-CASE")
    assert 1 == await store.register_version()


@pytest.mark.asyncio
async def test_a_second_connection_sees_a_new_import(
    store: Store, store_url: str, tmp_path: Path, keys: KeyRing
) -> None:
    """A running gateway polling register_version sees an import made by another process
    (on PostgreSQL, another node)."""
    other = await open_test_store(store_url, tmp_path, keys)
    try:
        await other.import_register(EXAMPLE.read_text(), str(EXAMPLE))
    finally:
        await other.close()
    assert 1 == await store.register_version()


@pytest.mark.asyncio
async def test_rekey_moves_every_record_to_the_new_key(
    store_url: str, keys: KeyRing, tmp_path: Path
) -> None:
    """After a rekey every record opens with the new key and none with the old one."""
    msg = _message()
    store = await open_test_store(store_url, tmp_path, keys)
    await store.hold(msg)
    await store.import_register(EXAMPLE.read_text(), str(EXAMPLE))
    new = KeyRing.generate(tmp_path / "new.key")
    counts = await store.rekey(new)
    await store.close()
    assert (1, 1, 3) == (counts.messages, counts.register_versions, counts.blobs)
    with pytest.raises(ConfigError):
        await open_test_store(store_url, tmp_path, keys)
    reopened = await open_test_store(store_url, tmp_path, new)
    try:
        assert msg == await reopened.get(msg.id)
        assert await reopened.load_register() is not None
        reopened._keys = keys  # the old key, forced past the open check
        with pytest.raises(SealError):
            await reopened.get(msg.id)
        with pytest.raises(SealError):
            await reopened.load_register()
    finally:
        await reopened.close()


def test_message_ids_sort_by_time() -> None:
    """Ids made later sort after ids made earlier."""
    earlier, later = new_message_id(1_700_000_000.0), new_message_id(1_700_000_000.002)
    assert 27 == len(earlier)
    assert earlier < later


def test_message_ids_made_in_the_same_millisecond_still_sort() -> None:
    """Ids made in a burst keep the order they were made in."""
    ids = [new_message_id(1_800_000_000.0) for _ in range(1000)]
    assert sorted(ids) == ids
    assert len(ids) == len(set(ids))
