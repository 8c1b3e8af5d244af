"""``python -m benchmarks.console_list``: the review console's list at 100,000 rows, on
SQLite and on PostgreSQL (a throwaway server, ``tests/pg_support.py``).

For each database: 100,000 holds are stored (sealed, indexed, as the gateway stores
them), then each list query is timed (median and 95th percentile of ``RUNS`` runs,
the page's 50 rows unsealed as the console does):

* the first page, most severe first, and a page 90,000 rows deep by keyset cursor,
  against the same deep page read with OFFSET (the baseline: it reads and drops every
  row before it);
* searches by subject words, sender, recipient, case, and a date range, each through
  its index (blind index tokens for the sealed fields);
* the counts per status, and a whole list request (page and counts) against the
  300 ms target;
* the list before issue 15 (``Store.list_held``: 500 rows, JSON functions, most severe
  first) as a second baseline;

and the query plan of the first and deep pages (an index, no sort step).  Figures vary
with the machine; read the ratios.  ``--rows`` and ``--only sqlite|postgresql`` make a
smaller or partial run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.crypto import KeyRing
from gateway.store import HeldMessage, Store, new_message_id
from gateway.store.listing import summary_of
from gateway.store.model import ListQuery
from gateway.store.opening import open_store
from gateway.store.pg import PgStore

ROWS, RUNS, PAGE = 100_000, 25, 50
TARGET_MS = 300.0
SENDERS = [f"officer{i}@council.example.gov.uk" for i in range(200)]
RECIPIENTS = [f"contact{i}@example.com" for i in range(1000)]
WORDS = [f"word{i}" for i in range(400)]
CASES = [f"DA-2025-{i:04d}" for i in range(2000)]
RULES = ("restricted-recipient-protected-data", "external-protected-address", "unscannable")
STATUSES = ("held",) * 6 + ("released", "rejected")


def messages(rows: int) -> list[HeldMessage]:
    """``rows`` holds over 90 days, mostly held, with a spread of senders, recipients,
    subjects, cases and rules (deterministic)."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    out = []
    for n in range(rows):
        received = start + dt.timedelta(seconds=78 * n)
        case = CASES[(n * 7) % len(CASES)]
        rcpt = RECIPIENTS[(n * 13) % len(RECIPIENTS)]
        sender = SENDERS[n % len(SENDERS)]
        out.append(
            HeldMessage(
                id=new_message_id(received.timestamp()),
                received_at=received,
                mail_from=sender,
                rcpt_tos=(rcpt,),
                raw=f"From: {sender}\r\nTo: {rcpt}\r\n\r\n{'x' * 2000}\r\n".encode(),
                action="quarantine",
                severity=("critical", "high", "high", "medium")[n % 4],
                rules=(RULES[n % 3],),
                findings=[{"kind": "address", "case": case, "location": "body", "score": 99}],
                evidence=[{"finding": 0, "location": "body", "start": 0, "end": 4, "text": "x"}],
                status=STATUSES[n % len(STATUSES)],
                subject=" ".join(WORDS[(n * k) % len(WORDS)] for k in (1, 3, 7, 11)),
            )
        )
    return out


async def fill(store: Store, rows: int) -> float:
    """Store ``rows`` holds; seconds taken."""
    made = messages(rows)
    started = time.perf_counter()
    for at in range(0, rows, 2000):
        await store.hold_many(made[at : at + 2000])
    await store.execute("ANALYZE")
    return time.perf_counter() - started


async def timed(work: Callable[[], Awaitable[Any]], runs: int = RUNS) -> tuple[float, float]:
    """(median, 95th percentile) milliseconds of ``work``."""
    await work()  # warm the cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


async def offset_page(store: Store, offset: int) -> list[Any]:
    """The baseline: the same page as a keyset cursor gives, read with OFFSET."""
    rows = await store.fetch_all(
        "SELECT id, received_at, status, action, severity, rules, findings, size, rcpt_count,"
        " false_positive, claimed_by, claimed_at, details FROM messages WHERE status = 'held'"
        " ORDER BY received_at, id LIMIT ? OFFSET ?",
        (PAGE, offset),
    )
    for row in rows:  # unsealed, as the list does
        summary_of(row)
        store.keys.open(f"{row[0]}/details", bytes(row[12]))
    return rows


async def plan(store: Store, query: ListQuery) -> str:
    sql, params = store.list_sql(query)
    if isinstance(store, PgStore):
        rows = await store.fetch_all("EXPLAIN " + sql, params)
        return " / ".join(str(r[0]).strip() for r in rows[:3])
    rows = await store.fetch_all("EXPLAIN QUERY PLAN " + sql, params)
    return " / ".join(str(r[-1]) for r in rows)


async def measure(store: Store, rows: int) -> None:
    held = (await store.count_by_status())["held"]
    deep = int(held * 0.9)
    cursor_row = await store.fetch_one(
        "SELECT received_at, id FROM messages WHERE status = 'held'"
        " ORDER BY received_at, id LIMIT 1 OFFSET ?",
        (deep - 1,),
    )
    assert cursor_row is not None
    cursor = (str(cursor_row[0]), str(cursor_row[1]))
    first_q = ListQuery(limit=PAGE)
    deep_q = ListQuery(sort="received", after=cursor, limit=PAGE)
    keyset_deep = await store.list_page(deep_q)
    baseline = await offset_page(store, deep)
    assert [r.summary.id for r in keyset_deep.rows] == [str(r[0]) for r in baseline]

    results: dict[str, tuple[float, float]] = {}
    results["first page (severity)"] = await timed(lambda: store.list_page(first_q))
    results[f"page {deep:,} rows deep, keyset"] = await timed(lambda: store.list_page(deep_q))
    results[f"page {deep:,} rows deep, OFFSET"] = await timed(lambda: offset_page(store, deep))
    searches = {
        "search: two subject words": ListQuery(subject=f"{WORDS[3]} {WORDS[21]}"),
        "search: sender": ListQuery(sender=SENDERS[17].upper()),
        "search: recipient": ListQuery(recipient=RECIPIENTS[42]),
        "search: case": ListQuery(case=CASES[99]),
        "search: one week, by received": ListQuery(
            sort="received",
            received_from=dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
            received_to=dt.datetime(2025, 2, 8, tzinfo=dt.UTC),
        ),
        "sort by subject (grouped)": ListQuery(sort="subject"),
    }
    for name, query in searches.items():
        results[name] = await timed(lambda q=query: store.list_page(q))  # type: ignore[misc]
    results["counts per status"] = await timed(lambda: store.count_matching(first_q))

    async def request() -> None:
        await store.list_page(first_q)
        await store.count_matching(first_q)

    results["list request (page + counts)"] = await timed(request)
    results["before issue 15: list_held(500)"] = await timed(
        lambda: store.list_held("held", 500, by_severity=True), runs=5
    )
    for name, (median, p95) in results.items():
        print(f"  {name:<40} {median:8.2f} ms  (p95 {p95:8.2f})")
    keyset = results[f"page {deep:,} rows deep, keyset"][0]
    offset = results[f"page {deep:,} rows deep, OFFSET"][0]
    first = results["first page (severity)"][0]
    whole = results["list request (page + counts)"][0]
    old = results["before issue 15: list_held(500)"][0]
    print(f"  deep page: OFFSET / keyset = {offset / keyset:.1f}x")
    print(f"  deep keyset page / first page = {keyset / first:.2f}x")
    print(f"  list_held(500) / new first page = {old / first:.1f}x")
    verdict = "within" if whole < TARGET_MS else "OVER"
    print(f"  list request {whole:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    print(f"  plan, first page: {await plan(store, first_q)}")
    print(f"  plan, deep page:  {await plan(store, deep_q)}")


async def run(kind: str, url: str, folder: Path, rows: int) -> None:
    keys = KeyRing.generate(folder / f"{kind}.key")
    store = await open_store(url, folder / f"{kind}" / "gateway.sqlite3", keys)
    try:
        seconds = await fill(store, rows)
        print(
            f"{kind}: {rows:,} holds stored in {seconds:.1f} s ({rows / seconds:,.0f}/s,"
            " sealed and indexed, 2,000 per transaction)"
        )
        await measure(store, rows)
        await store.execute("UPDATE messages SET terms_key = NULL")
        started = time.perf_counter()
        await store.index_terms()
        seconds = time.perf_counter() - started
        print(
            f"  index of older rows (first open after the upgrade, or a rekey): {rows:,} in"
            f" {seconds:.1f} s ({rows / seconds:,.0f}/s)"
        )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console_list")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-list-") as tmp:
        folder = Path(tmp)
        if args.only != "postgresql":
            asyncio.run(run("sqlite", "", folder, args.rows))
        if args.only != "sqlite":
            from tests.pg_support import throwaway_postgres

            with throwaway_postgres() as server:
                asyncio.run(run("postgresql", server.new_database(), folder, args.rows))


if __name__ == "__main__":
    main()
