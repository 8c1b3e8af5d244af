"""The quarantine list on both databases: search through the blind index, sort by any
column, keyset pages, counts per status, claims, and the index of older rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import KeyRing
from gateway.register.normalise import canonical_email
from gateway.store import HeldMessage, Store, new_message_id
from gateway.store.blind import subject_words
from gateway.store.model import SORTS, ListQuery
from gateway.store.pg import PgStore
from tests.store_support import open_test_store, stored_bytes

SENDERS = ("Officer@Council.example.gov.uk", "clerk@council.example.gov.uk", "a.b@gmail.com")
RECIPIENTS = ("mark.whitmore@example.com", "lettings@landlord.example", "x@y.example")
WORDS = ("tenancy", "Flat", "court", "notice", "Café", "3")
SEVERITIES = ("critical", "high", "medium", "low")
RULES = ("restricted-recipient-protected-data", "external-protected-address")
BASE = dt.datetime(2025, 5, 1, 9, 0, tzinfo=dt.UTC)
_counter = itertools.count()
pytestmark = pytest.mark.asyncio


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    return KeyRing.generate(tmp_path / "keys" / "master.key")


@pytest_asyncio.fixture
async def store(store_url: str, tmp_path: Path, keys: KeyRing) -> AsyncIterator[Store]:
    opened = await open_test_store(store_url, tmp_path, keys)
    yield opened
    await opened.close()


def held(
    case: str,
    *,
    sender: str = SENDERS[0],
    rcpts: tuple[str, ...] = (RECIPIENTS[0],),
    subject: str = "Tenancy notice",
    severity: str = "high",
    rule: str = RULES[0],
    minutes: int = 0,
) -> HeldMessage:
    received = BASE + dt.timedelta(minutes=minutes)
    return HeldMessage(
        id=new_message_id(received.timestamp() + next(_counter) / 1e6),
        received_at=received,
        mail_from=sender,
        rcpt_tos=rcpts,
        raw=f"From: {sender}\r\nTo: {rcpts[0]}\r\nSubject: {subject}\r\n\r\nbody\r\n".encode(),
        action="quarantine",
        severity=severity,
        rules=(rule,),
        findings=[{"kind": "address", "case": case, "location": "body", "score": 100}],
        subject=subject,
    )


async def walk(store: Store, query: ListQuery) -> list[list[str]]:
    """Every page of ``query``, following the next-page cursors from the first."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await store.list_page(_with(query, after=cursor))
        pages.append([row.summary.id for row in page.rows])
        if page.next is None:
            return pages
        cursor = page.next


def _with(query: ListQuery, **change: Any) -> ListQuery:
    return ListQuery(**{**query.__dict__, **change})


def sort_value(store: Store, message: HeldMessage, sort: str) -> Any:
    """What the store sorts ``message`` by, computed here from its clear values."""
    terms = store.message_terms(message)
    return {
        "severity": SEVERITIES.index(message.severity),
        "received": message.received_at.isoformat(),
        "sender": terms.sender_key,
        "recipients": terms.rcpts_key,
        "subject": terms.subject_key,
        "cases": terms.first_case,
        "rules": terms.first_rule,
        "status": message.status,
        "claimed": "",
    }[sort]


messages = st.lists(
    st.builds(
        dict,
        sender=st.sampled_from(SENDERS),
        rcpts=st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=2, unique=True),
        words=st.lists(st.sampled_from(WORDS), min_size=0, max_size=3),
        severity=st.sampled_from(SEVERITIES),
        rule=st.sampled_from(RULES),
        minutes=st.integers(0, 5),  # equal times: the id breaks the tie
    ),
    max_size=14,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=messages,
    sort=st.sampled_from(sorted(SORTS)),
    descending=st.booleans(),
    size=st.integers(1, 5),
)
async def test_keyset_pages_return_every_row_once_in_order(
    store: Store, data: list[dict[str, Any]], sort: str, descending: bool, size: int
) -> None:
    """Walking the pages of any sort returns each matching row exactly once, in order,
    and walking back from the last page gives the same pages."""
    case = f"EX-{next(_counter)}"
    made = [
        held(
            case,
            sender=d["sender"],
            rcpts=tuple(d["rcpts"]),
            subject=" ".join(d["words"]),
            severity=d["severity"],
            rule=d["rule"],
            minutes=d["minutes"],
        )
        for d in data
    ]
    for message in made:
        await store.hold(message)
    query = ListQuery(case=case, sort=sort, descending=descending, limit=size)
    pages = await walk(store, query)
    expected = sorted(made, key=lambda m: (sort_value(store, m, sort), m.id), reverse=descending)
    assert [m.id for m in expected] == [i for page in pages for i in page]
    assert all(len(page) == size for page in pages[:-1])
    # from the last page, the previous-page cursors lead back to the first
    last = await store.list_page(_with(query, after=_cursor_before_last(pages, made, store, sort)))
    back = [[row.summary.id for row in last.rows]]
    cursor = last.previous
    while cursor is not None:
        page = await store.list_page(_with(query, before=cursor))
        back.insert(0, [row.summary.id for row in page.rows])
        cursor = page.previous
    assert pages == back


def _cursor_before_last(
    pages: list[list[str]], made: list[HeldMessage], store: Store, sort: str
) -> tuple[Any, str] | None:
    """The cursor of the last page: after the last row of the page before it."""
    if len(pages) < 2:
        return None
    last_id = pages[-2][-1]
    message = next(m for m in made if m.id == last_id)
    return sort_value(store, message, sort), last_id


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=messages,
    sender=st.sampled_from(("", *SENDERS, "OFFICER+x@council.example.gov.uk")),
    recipient=st.sampled_from(("", *RECIPIENTS)),
    words=st.lists(st.sampled_from((*WORDS, "FLAT", "cafe\u0301")), max_size=2),
    rule=st.sampled_from(("", *RULES)),
)
async def test_search_finds_exactly_the_rows_whose_sealed_fields_match(
    store: Store,
    data: list[dict[str, Any]],
    sender: str,
    recipient: str,
    words: list[str],
    rule: str,
) -> None:
    """Sender and recipient (canonical address), every subject word (NFKC, lower case)
    and rule: the search finds exactly the messages whose clear values match."""
    case = f"EX-{next(_counter)}"
    made = [
        held(
            case,
            sender=d["sender"],
            rcpts=tuple(d["rcpts"]),
            subject=" ".join(d["words"]),
            rule=d["rule"],
        )
        for d in data
    ]
    for message in made:
        await store.hold(message)
    subject = " ".join(words)
    query = ListQuery(
        case=case, sender=sender, recipient=recipient, subject=subject, rule=rule, limit=100
    )

    def matches(m: HeldMessage) -> bool:
        return (
            (not sender or _canon(sender) == _canon(m.mail_from))
            and (not recipient or recipient in m.rcpt_tos)
            and set(subject_words(subject)) <= set(subject_words(m.subject))
            and (not rule or rule in m.rules)
        )

    page = await store.list_page(query)
    assert sorted(m.id for m in made if matches(m)) == sorted(r.summary.id for r in page.rows)
    counts = await store.count_matching(query)
    assert sum(map(matches, made)) == counts.get("held", 0)


def _canon(address: str) -> str:
    return canonical_email(address)


async def test_a_page_unseals_its_rows_and_the_database_holds_no_clear_value(
    store: Store,
) -> None:
    """The page shows sender, recipients and subject; the database has only tokens."""
    message = held("DA-1", sender="unique.sender@council.example", subject="Zanzibar tenancy")
    await store.hold(message)
    page = await store.list_page(ListQuery(subject="zanzibar"))
    assert [message.id] == [r.summary.id for r in page.rows]
    row = page.rows[0]
    assert ("unique.sender@council.example", "Zanzibar tenancy") == (row.mail_from, row.subject)
    everything = stored_bytes(store)
    for clear in (b"unique.sender", b"Zanzibar", b"zanzibar"):
        assert clear not in everything


async def test_counts_per_status_follow_the_search(store: Store) -> None:
    """The counts are those of the search's messages in each status."""
    first, second = held("DA-7"), held("DA-7")
    for message in (first, second, held("DA-8")):
        await store.hold(message)
    assert await store.transition(second.id, "held", "rejected")
    assert {"held": 1, "rejected": 1} == await store.count_matching(ListQuery(case="DA-7"))
    assert [second.id] == [
        r.summary.id
        for r in (await store.list_page(ListQuery(case="DA-7", status="rejected"))).rows
    ]
    assert [first.id, second.id] == await store.matching_ids(
        ListQuery(case="DA-7", status=None, sort="received"), 10
    )


async def test_a_claim_is_one_reviewers_until_taken_over_and_a_decision_ends_it(
    store: Store,
) -> None:
    """Claim, a second claim refused, take-over, give up; a decision clears it."""
    message = held("DA-9")
    await store.hold(message)
    assert await store.claim(message.id, "rita")
    assert await store.claim(message.id, "rita")  # again: still hers
    assert not await store.claim(message.id, "rob")
    assert ("rita", True) == ((await store.claimed_by(message.id) or ("", ""))[0], True)
    assert await store.claim(message.id, "rob", take_over=True)
    assert not await store.unclaim(message.id, "rita")
    listed = await store.list_page(ListQuery(claimed="rob"))
    assert [message.id] == [r.summary.id for r in listed.rows]
    assert await store.unclaim(message.id, "rob")
    assert await store.claim(message.id, "rita")
    assert await store.transition(message.id, "held", "rejected")
    assert ("", "") == await store.claimed_by(message.id)
    assert not await store.claim(message.id, "rob")  # not held: nothing to claim


async def test_older_rows_are_indexed_at_open_with_the_subject_from_the_message(
    store_url: str, tmp_path: Path, keys: KeyRing
) -> None:
    """A row held before the index (no terms, no subject in its details) is found by
    a search after the store opens again, its subject read from the sealed message."""
    store = await open_test_store(store_url, tmp_path, keys)
    message = held("DA-5", subject="Old tenancy letter")
    await store.hold(message)
    # As a store before migration 5 leaves it: unindexed; the details without subject.
    details = json.loads(store.keys.open(f"{message.id}/details", (await _details(store, message))))
    details.pop("subject")
    sealed = store.keys.seal(f"{message.id}/details", json.dumps(details).encode())
    await store.execute(
        "UPDATE messages SET details = ?, terms_key = NULL, sender_key = '' WHERE id = ?",
        (sealed, message.id),
    )
    await store.execute("DELETE FROM message_terms WHERE message_id = ?", (message.id,))
    assert [] == list((await store.list_page(ListQuery(subject="old letter"))).rows)
    await store.close()

    store = await open_test_store(store_url, tmp_path, keys)
    try:
        await store.indexed()
        page = await store.list_page(ListQuery(subject="old letter", sender=SENDERS[0]))
        assert [message.id] == [r.summary.id for r in page.rows]
        assert "Old tenancy letter" == page.rows[0].subject
    finally:
        await store.close()


async def test_the_store_opens_while_older_rows_are_indexed(
    store_url: str, tmp_path: Path, keys: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Indexing older rows runs in the background: open returns while it is under way,
    the store answers meanwhile, and close stops it (the next open carries on)."""
    store = await open_test_store(store_url, tmp_path, keys)
    await store.hold(held("DA-7"))
    await store.close()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_index(self: Store, batch: int = 0) -> int:
        started.set()
        await release.wait()
        return 0

    monkeypatch.setattr(type(store), "index_terms", slow_index)
    store = await open_test_store(store_url, tmp_path, keys)
    try:
        await asyncio.wait_for(started.wait(), 60)
        assert 1 == len((await store.list_page(ListQuery())).rows)
    finally:
        # The indexing still waits: close stops it instead of waiting for it.
        await asyncio.wait_for(store.close(), 60)


async def _details(store: Store, message: HeldMessage) -> bytes:
    row = await store.fetch_one("SELECT details FROM messages WHERE id = ?", (message.id,))
    assert row is not None
    return bytes(row[0])


async def test_a_new_key_indexes_again(store: Store, tmp_path: Path) -> None:
    """After a rekey, searches made with the new key find the messages."""
    message = held("DA-6")
    await store.hold(message)
    new = KeyRing.generate(tmp_path / "keys" / "new.key")
    await store.rekey(new)
    page = await store.list_page(ListQuery(recipient=RECIPIENTS[0].upper(), subject="TENANCY"))
    assert [message.id] == [r.summary.id for r in page.rows]


@pytest.mark.parametrize("status", ["held", None])
@pytest.mark.parametrize("sort", sorted(SORTS))
async def test_every_sort_reads_its_page_in_order_from_an_index(
    store: Store, sort: str, status: str | None
) -> None:
    """The page query of each sort, with and without a status, a cursor and a date
    range, is answered from an index in its order: no sort step, no full scan."""
    query = ListQuery(
        status=status,  # type: ignore[arg-type]
        sort=sort,
        after=(1 if sort == "severity" else "x", "Q0"),
        received_from=BASE if sort == "received" else None,
    )
    sql, params = store.list_sql(query)
    plan = await _plan(store, sql, params)
    assert "TEMP B-TREE" not in plan.upper(), plan
    assert " Sort " not in f" {plan} ", plan
    assert "INDEX" in plan.upper(), plan


async def _plan(store: Store, sql: str, params: tuple[Any, ...]) -> str:
    if isinstance(store, PgStore):
        async with store.transaction():
            # An empty table is read whole by a sequential scan, which then sorts: with
            # both discouraged, the plan shows whether an index gives the order.
            await store.fetch_one("SELECT set_config('enable_seqscan', 'off', true)")
            await store.fetch_one("SELECT set_config('enable_sort', 'off', true)")
            rows = await store.fetch_all("EXPLAIN " + sql, params)
            return "\n".join(str(row[0]) for row in rows).replace("Index", "INDEX")
    rows = await store.fetch_all("EXPLAIN QUERY PLAN " + sql, params)
    return "\n".join(str(row[-1]) for row in rows)
