"""The audit page's reads: filters done in SQL, keyset pages by sequence number, and
the full list for the CSV export, on each database."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.review import audit
from gateway.review.audit import AuditFilter
from gateway.store import Store

pytestmark = pytest.mark.asyncio


async def _mixed(store: Store) -> None:
    """Six records: rita views and rejects Q1, rob views Q2 and Q1, ada adds a user."""
    for actor, action, target in (
        ("user:rita", "view", "Q1"),
        ("user:rita", "reject", "Q1"),
        ("user:rob", "view", "Q2"),
        ("user:rob", "view", "Q1"),
        ("user:ada", "user-add", "user:sam"),
        ("user:rob", "claim", "Q2"),
    ):
        await audit.record(store, actor, action, target, f"{action} by {actor}")


@pytest.mark.parametrize(
    ("where", "seqs"),
    [
        (AuditFilter(), [6, 5, 4, 3, 2, 1]),
        (AuditFilter(actor="user:rob"), [6, 4, 3]),
        (AuditFilter(action="view"), [4, 3, 1]),
        (AuditFilter(target="Q1"), [4, 2, 1]),
        (AuditFilter(actor="user:rob", action="view", target="Q1"), [4]),
        (AuditFilter(actor="user:nobody"), []),
    ],
    ids=["none", "actor", "action", "target", "all-three", "no-match"],
)
async def test_filters_select_the_matching_records(
    store: Store, where: AuditFilter, seqs: list[int]
) -> None:
    """Each filter narrows the page to its records, newest first; the genesis never shows."""
    await _mixed(store)
    shown = await audit.page(store, where)
    assert seqs == [r.seq for r in shown.records]
    assert (None, None) == (shown.older, shown.newer)


async def test_a_date_range_includes_both_days(store: Store) -> None:
    """From and to are whole UTC days, both included; a range before today is empty."""
    await _mixed(store)
    today = dt.datetime.now(dt.UTC).date()
    day = dt.timedelta(days=1)
    assert 6 == len((await audit.page(store, AuditFilter(since=today, until=today))).records)
    assert 6 == len((await audit.page(store, AuditFilter(since=today - day))).records)
    assert [] == (await audit.page(store, AuditFilter(until=today - day))).records
    assert [] == (await audit.page(store, AuditFilter(since=today + day))).records


async def test_pages_go_past_five_hundred_records_and_back(store: Store) -> None:
    """520 records in pages of 200: older, older, then newer returns the middle page."""
    for number in range(1, 521):
        await audit.record(store, "user:rita", "view", f"Q{number % 3}")
    first = await audit.page(store, AuditFilter(), size=200)
    assert (520, 321, None) == (first.records[0].seq, first.records[-1].seq, first.newer)
    assert first.older is not None
    second = await audit.page(store, AuditFilter(), before=first.older, size=200)
    assert (320, 121) == (second.records[0].seq, second.records[-1].seq)
    assert second.older is not None
    third = await audit.page(store, AuditFilter(), before=second.older, size=200)
    assert ([120, 1], None) == ([third.records[0].seq, third.records[-1].seq], third.older)
    assert third.newer is not None
    back = await audit.page(store, AuditFilter(), after=third.newer, size=200)
    assert [r.seq for r in second.records] == [r.seq for r in back.records]
    assert (second.older, second.newer) == (back.older, back.newer)


async def test_paging_keeps_the_filter(store: Store) -> None:
    """Pages of a filtered log hold only matching records."""
    for number in range(1, 31):
        await audit.record(store, f"user:{'rita' if number % 2 else 'rob'}", "view", "Q1")
    where = AuditFilter(actor="user:rob")
    first = await audit.page(store, where, size=10)
    assert first.older is not None
    second = await audit.page(store, where, before=first.older, size=10)
    assert {"user:rob"} == {r.actor for r in first.records + second.records}
    assert 15 == len(first.records + second.records)
    assert second.older is None


async def test_matching_returns_every_record_oldest_first_with_reasons(store: Store) -> None:
    """The export's list: all matching records, reasons unsealed."""
    await _mixed(store)
    found = await audit.matching(store, AuditFilter(target="Q1"))
    assert [1, 2, 4] == [r.seq for r in found]
    assert "reject by user:rita" == found[1].reason
    assert ["claim", "reject", "user-add", "view"] == await audit.actions(store)
