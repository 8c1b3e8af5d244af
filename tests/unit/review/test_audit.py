"""The audit chain: append-only, and ``verify`` finds any altered, removed or moved record."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.review import audit
from gateway.store import Store
from tests.store_support import APPEND_ONLY, raw_insert, raw_sql, refusal, stored_bytes

pytestmark = pytest.mark.asyncio


async def _five(store: Store) -> None:
    for number in range(1, 6):
        await audit.record(store, "user:rita", "view", f"Q{number}", f"reason {number}")


def _tamper(store: Store, *statements: str) -> None:
    raw_sql(store, *statements, audit_guards_off=True)


async def test_an_untouched_chain_verifies(store: Store) -> None:
    """Five records, in order, each linked to the one before."""
    await _five(store)
    report = await audit.verify(store)
    assert (True, 5) == (report.ok, report.records)
    assert [1, 2, 3, 4, 5] == [r.seq for r in await audit.records(store)]


async def test_the_table_refuses_update_and_delete(store: Store) -> None:
    """The triggers keep the log append-only for anyone using SQL."""
    await _five(store)
    for statement in ("UPDATE audit SET reason = 'x'", "DELETE FROM audit WHERE seq = 2"):
        assert APPEND_ONLY in refusal(store, statement)
    assert 5 == (await audit.verify(store)).records


SWAP = (
    "UPDATE audit SET seq = 100 WHERE seq = 2",
    "UPDATE audit SET seq = 2 WHERE seq = 3",
    "UPDATE audit SET seq = 3 WHERE seq = 100",
)


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        (("UPDATE audit SET reason = 'nothing to see' WHERE seq = 3",), "record 3 was altered"),
        (("UPDATE audit SET actor = 'user:rob' WHERE seq = 1",), "record 1 was altered"),
        (("DELETE FROM audit WHERE seq = 2",), "record 2 is missing"),
        (("DELETE FROM audit WHERE seq = 5",), "missing from the end"),
        (SWAP, "record 2 does not follow record 1"),
    ],
    ids=["altered-reason", "altered-actor", "removed-middle", "removed-last", "reordered"],
)
async def test_verify_finds_tampering(
    store: Store, statements: tuple[str, ...], problem: str
) -> None:
    """Each kind of change made around the triggers breaks the chain where it was made."""
    await _five(store)
    _tamper(store, *statements)
    report = await audit.verify(store)
    assert not report.ok
    assert problem in report.problem


async def test_a_forged_record_without_the_key_is_found(store: Store) -> None:
    """Appending a record with a made-up MAC (no key file) breaks the chain."""
    await _five(store)
    head = await store.fetch_one("SELECT mac FROM audit WHERE seq = 5")
    assert head is not None
    forged = (
        6,
        "2026-01-01T00:00:00+00:00",
        "user:x",
        "release",
        "Q9",
        "forged",
        head[0],
        "0" * 64,
    )
    raw_insert(store, "audit", forged)
    assert "record 6 was altered" == (await audit.verify(store)).problem


async def test_removing_the_last_record_and_moving_the_head_is_found(store: Store) -> None:
    """The head carries its own MAC: pointing it at the record before needs the key."""
    await _five(store)
    row = await store.fetch_one("SELECT mac FROM audit WHERE seq = 4")
    assert row is not None
    for head in (f"4:{row[0]}", f"4:{row[0]}:{'0' * 64}"):
        _tamper(
            store,
            "DELETE FROM audit WHERE seq = 5",
            f"UPDATE meta SET value = '{head}' WHERE name = 'audit_head'",  # noqa: S608
        )
        assert "missing from the end" in (await audit.verify(store)).problem


async def test_reasons_are_sealed_and_survive_a_rekey(store: Store, tmp_path: Path) -> None:
    """A reason quoting a protected detail is not in the database file; after a rekey
    the chain still verifies, the reason still reads, and the guards are back."""
    await audit.record(store, "user:rita", "reject", "Q1", "she lives at 27 Kingfisher Road")
    await audit.record(store, "user:rita", "view", "Q1")
    assert b"27 Kingfisher" not in stored_bytes(store)
    await store.rekey(KeyRing.generate(tmp_path / "new.key"))
    assert (await audit.verify(store)).ok
    reasons = [r.reason for r in await audit.records(store)]
    assert ["she lives at 27 Kingfisher Road", ""] == reasons
    assert APPEND_ONLY in refusal(store, "UPDATE audit SET reason = ''")
