"""The quarantine list at a council's scale in a real browser (Playwright, Debian's
Chromium) in front of ``gateway serve``: 10,000 held messages searched and paged,
claims, a bulk reject of 100 holds with a result each, and a bulk release that leaves
critical holds for their second approver."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from gateway.crypto import KeyRing
from gateway.store import HeldMessage, Store, new_message_id
from gateway.store.model import ListQuery
from tests.integration.console.test_browser import (
    VIEWPORT,
    delivered,
    screenshots,
)
from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    high_hold,
    leak,
)
from tests.integration.support import MARK, SAFE_ADDRESS

T = TypeVar("T")
MANY = 10_000
REASON = "Checked with the case officer"
SENDERS = [f"officer{i}@council.example.gov.uk" for i in range(40)]
WORDS = ("tenancy", "review", "housing", "meeting", "report", "visit", "letter", "update")
NEEDLE = "kestrel"  # a subject word on every 500th seeded message: 20 of them
_counter = itertools.count()


def seeded(n: int, case: str = "DA-2025-0142", subject: str = "") -> list[HeldMessage]:
    """``n`` holds as the gateway makes them, to the restricted contact of ``case``."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    out = []
    for i in range(n):
        number = next(_counter)
        received = start + dt.timedelta(seconds=250 * i)
        words = [WORDS[(number * 7 + k) % len(WORDS)] for k in range(3)]
        if number % 500 == 0:
            words.append(NEEDLE)
        sender = SENDERS[number % len(SENDERS)]
        out.append(
            HeldMessage(
                id=new_message_id(received.timestamp()),
                received_at=received,
                mail_from=sender,
                rcpt_tos=(MARK,),
                raw=(
                    f"From: {sender}\r\nTo: {MARK}\r\nSubject: x\r\n\r\n{SAFE_ADDRESS}\r\n"
                ).encode(),
                action="quarantine",
                severity=("critical", "high", "medium")[number % 3],
                rules=("restricted-recipient-protected-data",),
                findings=[
                    {"kind": "restricted_recipient", "case": case, "location": "envelope"},
                    {"kind": "address", "case": case, "location": "body", "score": 100},
                ],
                evidence=[{"finding": 0, "location": "envelope", "text": MARK}],
                subject=subject or " ".join(words).capitalize(),
            )
        )
    return out


def seed(g: ConsoleGateway, messages: list[HeldMessage]) -> None:
    """Put ``messages`` in the running gateway's quarantine (the store takes writers
    from other processes), a thousand per transaction."""

    async def run() -> None:
        keys = KeyRing.load(g.data_dir / "master.key")
        store = await Store.open(g.data_dir / "gateway.sqlite3", keys)
        try:
            for at in range(0, len(messages), 1000):
                await store.hold_many(messages[at : at + 1000])
        finally:
            await store.close()

    off_loop(run)


def off_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` to the end on a loop of its own, in a thread (Playwright's sync
    API keeps a loop running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    """One gateway for the module, with 10,000 holds in its quarantine."""
    with console_gateway(tmp_path_factory.mktemp("list")) as running:
        seed(running, seeded(MANY))
        yield running


@pytest.fixture
def as_user(browser: Browser) -> Iterator[object]:
    contexts: list[BrowserContext] = []

    def open_as(g: ConsoleGateway, name: str) -> Page:
        contexts.append(browser.new_context(viewport=VIEWPORT))
        page = contexts[-1].new_page()
        page.goto(f"{g.url}/login")
        page.locator("input[name=name]").fill(name)
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{g.url}/messages")
        return page

    yield open_as
    for context in contexts:
        context.close()


def row_ids(page: Page) -> list[str]:
    return page.locator("table.messages tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )


def search(page: Page, g: ConsoleGateway, **fields: str) -> None:
    page.goto(f"{g.url}/messages")
    form = page.locator("form.search")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button", name="Search").click()
    page.wait_for_load_state()


def test_ten_thousand_holds_are_searched_and_paged(g: ConsoleGateway, as_user: object) -> None:
    """The list pages through 10,000 holds by keyset, 50 at a time, finds the 20 with a
    subject word, sorts, and counts per status; the server says how long it took."""
    page = as_user(g, "rita")  # type: ignore[operator]
    response = page.goto(f"{g.url}/messages")
    assert response is not None
    assert MANY == int(page.locator(".counts a.current strong").inner_text())
    first = row_ids(page)
    assert 50 == len(first)
    assert "critical" == page.locator("table.messages tbody tr .severity").first.text_content()
    cell = page.locator("table.messages tbody tr td.recipients").first
    assert "restricted · DA-2025-0142" in cell.inner_text()
    rules = page.locator("table.messages tbody tr td.rules").first.inner_text()
    assert "restricted contact" in rules  # the policy's description, not the id
    timing = response.headers["server-timing"]
    print("list of 10,000, first page:", timing)
    page.screenshot(path=screenshots() / "quarantine-list-10000.png", full_page=False)

    seen = set(first)
    for _ in range(5):
        page.get_by_role("link", name="Next page →").click()
        page.wait_for_load_state()
        ids = row_ids(page)
        assert 50 == len(ids)
        assert not seen & set(ids)
        seen |= set(ids)
    page.get_by_role("link", name="← Previous page").click()
    page.wait_for_load_state()
    assert 50 == len(row_ids(page))
    assert not set(row_ids(page)) & set(first)

    search(page, g, subject=f"{NEEDLE.upper()}")
    assert 20 == len(row_ids(page))
    assert all(
        NEEDLE in s.lower() for s in page.locator("td.subject > a:first-child").all_inner_texts()
    )
    search(page, g, subject=NEEDLE, sender=SENDERS[0].upper())
    assert 10 == len(row_ids(page))  # every 500th alternates officer0 and officer20
    assert {SENDERS[0]} == set(page.locator("td.sender").all_inner_texts())


def test_sorting_by_a_column_orders_the_page(g: ConsoleGateway, as_user: object) -> None:
    """A column heading sorts by it, a second click reverses it; Received sorts by time."""
    page = as_user(g, "rita")  # type: ignore[operator]
    page.goto(f"{g.url}/messages?sort=received")
    times = page.locator("table.messages tbody tr td:nth-child(3)").all_inner_texts()
    assert times == sorted(times)
    page.get_by_role("link", name="Received ▲").click()
    page.wait_for_load_state()
    times = page.locator("table.messages tbody tr td:nth-child(3)").all_inner_texts()
    assert times == sorted(times, reverse=True)
    page.get_by_role("link", name="Sender").click()
    page.wait_for_load_state()
    senders = page.locator("table.messages tbody tr td.sender").all_inner_texts()
    runs = [k for k, _ in itertools.groupby(senders)]
    assert len(runs) == len(set(senders))  # equal senders together


def test_a_claim_shows_to_others_who_must_take_it_over(g: ConsoleGateway, as_user: object) -> None:
    """rita says "I'm on it"; rob sees her name in the list and on the message page,
    his reject is refused until he takes the claim over there, which rita then sees in
    the list and takes back from it."""
    message_id = g.hold(high_hold("Claim me"))
    rita = as_user(g, "rita")  # type: ignore[operator]
    search(rita, g, subject="claim me")
    assert [message_id] == row_ids(rita)
    rita.get_by_role("button", name="I'm on it").click()
    rita.wait_for_load_state()
    assert "Claimed" in rita.locator("p.notice").inner_text()
    assert "rita" == rita.locator(f"tr[data-id={message_id}] .claimed").inner_text()

    rob = as_user(g, "rob")  # type: ignore[operator]
    search(rob, g, subject="claim me")
    row = rob.locator(f"tr[data-id={message_id}]")
    assert "rita" == row.locator(".claimed").inner_text()
    assert 0 == row.get_by_role("button", name="I'm on it").count()
    rob.goto(f"{g.url}/messages/{message_id}")
    form = rob.locator("form.reject")
    form.locator("textarea[name=reason]").fill(REASON)
    form.get_by_role("button", name="Reject").click()
    rob.wait_for_load_state()
    assert "rita is on it" in rob.locator("p.error").inner_text()
    assert "rita is on it" in rob.locator("form.claim p.claimed").inner_text()

    rob.locator("form.claim").get_by_role("button", name="Take over").click()
    rob.wait_for_url(f"{g.url}/messages/{message_id}?notice=take-over")
    assert "Taken over" in rob.locator("p.notice").inner_text()
    assert "You have claimed" in rob.locator("form.claim p.claimed.mine").inner_text()
    rita.reload()
    assert "rob" == rita.locator(f"tr[data-id={message_id}] .claimed").inner_text()
    rita.locator(f"tr[data-id={message_id}]").get_by_role("button", name="Take over").click()
    rita.wait_for_load_state()
    assert "rita" == rita.locator(f"tr[data-id={message_id}] .claimed").inner_text()
    rob.reload()
    assert "rita is on it" in rob.locator("form.claim p.claimed").inner_text()


def test_bulk_reject_of_a_hundred_holds_shows_each_result(
    g: ConsoleGateway, as_user: object
) -> None:
    """All 100 holds of a search are rejected with one reason; the results page lists
    each; one claimed by another reviewer is left with its reason."""
    batch = seeded(100, case="DA-2025-9100", subject="Bulk reject batch")
    seed(g, batch)
    rob = as_user(g, "rob")  # type: ignore[operator]
    search(rob, g, case="DA-2025-9100")
    rob.get_by_role("button", name="I'm on it").first.click()
    rob.wait_for_load_state()

    rita = as_user(g, "rita")  # type: ignore[operator]
    search(rita, g, case="DA-2025-9100")
    assert 100 == int(rita.locator(".counts a.current strong").inner_text())
    bulk = rita.locator("fieldset.bulk")
    bulk.get_by_label("All that match this search").check()
    bulk.get_by_label("Decision").select_option("reject")
    bulk.get_by_label("Reason (one for all)").fill(REASON)
    bulk.get_by_role("button", name="Decide").click()
    rita.wait_for_load_state()
    assert "Bulk decision: reject" == rita.locator("h1").inner_text()
    assert "99 of 100 done" in rita.locator("p[role=status]").inner_text()
    results = rita.locator("table.results tbody tr")
    assert 100 == results.count()
    assert 99 == rita.locator("table.results tr.done").count()
    assert "rob is on it" in rita.locator("table.results tr.not-done").inner_text()
    rita.screenshot(path=screenshots() / "bulk-results.png", full_page=False)
    assert {m.id for m in batch} == set(results.evaluate_all("rows => rows.map(r => r.dataset.id)"))


def test_bulk_release_leaves_critical_holds_for_their_second_approver(
    g: ConsoleGateway, as_user: object
) -> None:
    """Ticked high and critical holds released in bulk (password asked again): the high
    ones go out, the critical ones get one approval and wait for a senior, one by one."""
    highs = [g.hold(high_hold("Bulk release batch")) for _ in range(2)]
    criticals = [g.hold(leak(subject="Bulk release batch")) for _ in range(2)]
    rita = as_user(g, "rita")  # type: ignore[operator]
    search(rita, g, subject="bulk release batch")
    assert set(highs + criticals) == set(row_ids(rita))
    release_ticked(rita, highs + criticals, "wrong password")
    assert "Not possible" == rita.locator("h1").inner_text()
    assert ["held"] * 4 == statuses(g, highs + criticals)

    search(rita, g, subject="bulk release batch")
    release_ticked(rita, highs + criticals, PASSWORD)
    states = {
        r.get_attribute("data-id"): r.locator("td").nth(1).inner_text()
        for r in rita.locator("table.results tbody tr").all()
    }
    assert dict.fromkeys(highs, "released") | dict.fromkeys(criticals, "approved") == states
    for message_id in highs:
        assert 1 == len(delivered(g, message_id))
    assert ["released", "released", "held", "held"] == statuses(g, highs + criticals)
    assert all(delivered(g, m, wait=0.2) == [] for m in criticals)


def statuses(g: ConsoleGateway, message_ids: list[str]) -> list[str]:
    """The status of each message, from the store."""

    async def read() -> list[str]:
        keys = KeyRing.load(g.data_dir / "master.key")
        store = await Store.open(g.data_dir / "gateway.sqlite3", keys)
        try:
            found = [await store.summary(m) for m in message_ids]
            return [s.status if s else "missing" for s in found]
        finally:
            await store.close()

    return off_loop(read)


def release_ticked(page: Page, message_ids: list[str], password: str) -> None:
    """Tick ``message_ids`` on the list and release them with ``password``."""
    for message_id in message_ids:
        page.locator(f"tr[data-id={message_id}] input[type=checkbox]").check()
    bulk = page.locator("fieldset.bulk")
    bulk.get_by_label("Decision").select_option("release")
    bulk.get_by_label("Reason (one for all)").fill(REASON)
    bulk.get_by_label("Your password (needed to release)").fill(password)
    bulk.get_by_role("button", name="Decide").click()
    page.wait_for_load_state()


def test_the_query_plan_of_the_list_uses_an_index(g: ConsoleGateway) -> None:
    """At 10,000 rows, SQLite reads the first page of each sort from an index."""

    async def plans() -> list[str]:
        keys = KeyRing.load(g.data_dir / "master.key")
        store = await Store.open(g.data_dir / "gateway.sqlite3", keys)
        try:
            out = []
            for sort in ("severity", "received", "sender", "subject", "claimed"):
                sql, params = store.list_sql(ListQuery(sort=sort, subject="tenancy"))
                rows = await store.fetch_all("EXPLAIN QUERY PLAN " + sql, params)
                out.append(" | ".join(str(r[-1]) for r in rows))
            return out
        finally:
            await store.close()

    for plan in off_loop(plans):
        assert "INDEX" in plan.upper(), plan
