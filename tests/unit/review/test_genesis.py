"""The audit chain's genesis: an emptied log (rows and head deleted around the
triggers) fails ``verify`` on a new store and on one upgraded from before genesis
records, and nothing an attacker deletes makes the gateway start a clean chain."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import GatewayError
from gateway.review import User, audit
from gateway.store import Store, StoreError
from gateway.store.schema import MIGRATIONS
from tests.store_support import is_pg, raw_sql, reopened

from .legacy import old_store

pytestmark = pytest.mark.asyncio

EMPTY = (
    "DELETE FROM audit",
    "DELETE FROM meta WHERE name = 'audit_head'",
)
NO_MARK = "DELETE FROM meta WHERE name = 'audit_genesis'"
NO_KEY = "DELETE FROM meta WHERE name = 'audit_key'"
# What a thorough attacker also undoes: the genesis migration's traces and its version.
# Migration 5 (the list's columns, indexes and search terms) undone, as a store at 4 has it
_FIVE = MIGRATIONS[4]
SCHEMA_BACK = (
    "DELETE FROM schema_version WHERE version > 3",
    "DROP TABLE message_terms",
    *(f"DROP INDEX {name}" for name in re.findall(r"CREATE INDEX (\w+) ON messages", _FIVE)),
    *(f"ALTER TABLE messages DROP COLUMN {c}" for c in re.findall(r"ADD COLUMN (\w+)", _FIVE)),
    "DROP TABLE user_aliases",
    "DROP INDEX users_by_uid",
    "ALTER TABLE users DROP COLUMN uid",
    "ALTER TABLE approvals DROP COLUMN user_id",
)


def _tamper(store: Store, *statements: str) -> None:
    raw_sql(store, *statements, audit_guards_off=True)


async def _three(store: Store) -> None:
    for number in range(1, 4):
        await audit.record(store, "user:rita", "view", f"Q{number}")


async def test_a_new_store_begins_with_a_sealed_genesis(store: Store) -> None:
    """A new store's chain is its genesis alone, and verifies; records follow it."""
    assert (True, 0) == ((report := await audit.verify(store)).ok, report.records)
    await _three(store)
    assert (True, 3) == ((report := await audit.verify(store)).ok, report.records)
    row = await store.fetch_one("SELECT seq, actor, action, target FROM audit ORDER BY seq")
    assert (0, "system", "genesis", "store") == tuple(row or ())
    assert [1, 2, 3] == [r.seq for r in await audit.records(store)]


@pytest.mark.parametrize(
    "also",
    [(), (NO_MARK,), (NO_MARK, NO_KEY), (NO_MARK, NO_KEY, *SCHEMA_BACK)],
    ids=["rows-and-head", "and-genesis-mark", "and-audit-key", "and-schema-version"],
)
async def test_an_emptied_log_fails_verify_on_a_new_store(
    store: Store, people: dict[str, User], also: tuple[str, ...]
) -> None:
    """Rows and head deleted (and the genesis mark, the audit key, the schema version):
    verify fails, before and after the store is opened again, and records written
    after the wipe do not make it whole."""
    await _three(store)
    _tamper(store, *EMPTY, *also)
    assert not (await audit.verify(store)).ok
    if is_pg(store) and SCHEMA_BACK[0] in also:
        # PostgreSQL stores begin at schema 4: with its version gone, the store is
        # refused rather than made again.
        with pytest.raises(StoreError, match="no schema version"):
            await reopened(store)
        return
    store = await reopened(store)
    try:
        report = await audit.verify(store)
        assert (False, True) == (report.ok, bool(report.problem))
        # Refusing to write without the audit key is as good as writing.
        with contextlib.suppress(GatewayError):
            await audit.record(store, "user:rita", "login", "user:rita")
        assert not (await audit.verify(store)).ok
    finally:
        await store.close()


async def test_an_emptied_log_reports_why(store: Store, people: dict[str, User]) -> None:
    """Each way of emptying the log names what is wrong."""
    await _three(store)
    _tamper(store, *EMPTY)
    assert (
        "the audit log is empty: its genesis record is missing"
        == (await audit.verify(store)).problem
    )
    _tamper(store, NO_MARK)
    store = await reopened(store)
    try:
        assert audit.EMPTIED_PROBLEM == (await audit.verify(store)).problem
        _tamper(store, NO_KEY)
        assert "the audit key is missing from the store" == (await audit.verify(store)).problem
    finally:
        await store.close()


async def _upgraded(tmp_path: Path, records: int) -> Store:
    keys = KeyRing.generate(tmp_path / "old.key")
    old_store(tmp_path / "old.sqlite3", keys, [("rita", "rita@council.example")], records)
    return await Store.open(tmp_path / "old.sqlite3", keys)


async def test_an_upgraded_store_gets_its_genesis_after_its_records(tmp_path: Path) -> None:
    """A store from before genesis records verifies after the upgrade, with one more
    record (its genesis) after the old ones, and goes on from there."""
    store = await _upgraded(tmp_path, 4)
    try:
        await audit.record(store, "user:rita", "view", "Q1")
        report = await audit.verify(store)
        assert (True, 6) == (report.ok, report.records)
        listed = [(r.seq, r.action, r.target) for r in await audit.records(store)]
        assert (5, "genesis", "upgrade") == listed[4]
    finally:
        await store.close()


@pytest.mark.parametrize(
    "also",
    [(), (NO_MARK,), (NO_MARK, NO_KEY), (NO_MARK, NO_KEY, *SCHEMA_BACK)],
    ids=["rows-and-head", "and-genesis-mark", "and-audit-key", "and-schema-version"],
)
async def test_an_emptied_log_fails_verify_on_an_upgraded_store(
    tmp_path: Path, also: tuple[str, ...]
) -> None:
    """The same wipes on an upgraded store: verify fails, and keeps failing after the
    store is opened again (no fresh genesis for a store that holds accounts)."""
    store = await _upgraded(tmp_path, 4)
    assert (await audit.verify(store)).ok
    _tamper(store, *EMPTY, *also)
    assert not (await audit.verify(store)).ok
    store = await reopened(store)
    try:
        assert not (await audit.verify(store)).ok
    finally:
        await store.close()


async def test_an_unused_old_store_starts_a_clean_chain(tmp_path: Path) -> None:
    """A store from before genesis records that holds nothing (no account, register,
    message or audit record) gets a new store's genesis: it is one."""
    keys = KeyRing.generate(tmp_path / "old.key")
    old_store(tmp_path / "old.sqlite3", keys)
    async with await Store.open(tmp_path / "old.sqlite3", keys) as store:
        assert (True, 0) == ((report := await audit.verify(store)).ok, report.records)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit SET target = 'upgrade' WHERE seq = 0",
        "DELETE FROM audit WHERE seq = 0",
        "UPDATE audit SET action = 'view' WHERE seq = 0",
    ],
    ids=["altered", "removed", "renamed"],
)
async def test_a_tampered_genesis_fails_verify(store: Store, statement: str) -> None:
    """The genesis is MAC'd and linked like any record: altered or removed, it fails."""
    await _three(store)
    _tamper(store, statement)
    assert not (await audit.verify(store)).ok


async def test_the_genesis_is_written_once(store: Store) -> None:
    """Opening the store again adds no second genesis."""
    store = await reopened(store)
    try:
        rows = await store.fetch_all("SELECT seq FROM audit WHERE action = 'genesis'")
        assert [0] == [row[0] for row in rows]
    finally:
        await store.close()
