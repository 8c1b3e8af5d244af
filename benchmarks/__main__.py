"""``python -m benchmarks``: index build, scan speed and a naive baseline, in one run.

Prints, for each register size: index build time and memory per case, messages per
second on one core, p50/p99 scan time, and the same for a naive baseline (rapidfuzz
over every register entry, timed on a sample of cases and scaled up), with ratios.
Then pages per second for PDF and DOCX attachments, OCR's cost and recall
(``benchmarks/ocr.py``), PDF pages surveyed for scans and redactions and a 50-page scan
against its budget (``benchmarks/pdfpages.py``), and the worst-case scan time over
the hostile corpus with how soon a worker is free again (``benchmarks/worst_case.py``),
and the register's life under ``gateway serve``: import-to-in-force and
restart-to-accepting times against their targets (``benchmarks/register_life.py``).
Figures vary with the machine; read the ratios.  ``--smtp`` adds the SMTP load test
(``benchmarks/smtp_load.py``): direct to a sink, a plain relay and ``gateway serve``,
over 20 connections.  ``--milter`` adds the milter benchmark (``benchmarks/milter.py``):
smtp-source -> Postfix -> smtp-sink alone, with an accept-all milter and with
``gateway milter`` (needs root and the postfix package).  ``--pg`` adds the
several-nodes benchmark (``benchmarks/pg_nodes.py``): one ``gateway serve`` on SQLite
against two nodes on one PostgreSQL database, for throughput, latency added at half
load and holds committed per second (needs the postgresql package).
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import os
import time
from pathlib import Path

from benchmarks import (
    documents,
    milter,
    pdfpages,
    pg_nodes,
    register_life,
    smtp_load,
    synthetic,
    worst_case,
)
from benchmarks import ocr as ocr_bench
from gateway.envelope import Envelope
from gateway.match import Index, build_index
from gateway.match.parallel import build_index_parallel
from gateway.policy import default_policy_dir, load_policy
from gateway.register import normalise
from gateway.scan import ScanSettings, scan

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "ham"
TARGET_RATE, TARGET_P99_MS = 700.0, 5.0
PASSES = 3  # over the messages; the pass with the least CPU time is reported


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build(size: int, workers: int) -> tuple[Index, float, float, int]:
    """Index of ``size`` synthetic cases: (index, build s, generation s, RSS growth).

    Each worker generates its own slice of the register while it indexes it, so the
    generation time (measured alone, on one core) is taken off the build time.
    """
    started = time.perf_counter()
    for _ in synthetic.part(size, workers, 0):
        pass
    generation = time.perf_counter() - started
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    if workers > 1:
        sources = [functools.partial(synthetic.part, size, workers, k) for k in range(workers)]
        index = build_index_parallel(sources)
    else:
        index = build_index(synthetic.part(size, 1, 0))
    elapsed = time.perf_counter() - started - generation
    gc.collect()
    return index, elapsed, generation, rss_bytes() - before


def scan_times(index: Index, messages: list[bytes]) -> list[float]:
    """CPU seconds of each message's scan (per core: the time other processes of a
    busy machine take is not counted against the scan)."""
    policy = load_policy(default_policy_dir())
    settings = ScanSettings(internal_domains=("council.example.gov.uk",))
    times = []
    for number, raw in enumerate(messages):
        envelope = Envelope(
            "officer@council.example.gov.uk", (f"someone{number}@partner.example",), raw
        )
        started = time.process_time()
        scan(envelope, index, policy, settings)
        times.append(time.process_time() - started)
    return times


def best_pass(index: Index, messages: list[bytes]) -> list[float]:
    """The per-message times of the pass over ``messages`` with the least CPU time in
    all: a noisy machine slows a pass down (caches, frequency), never speeds it up."""
    passes = [scan_times(index, messages) for _ in range(PASSES)]
    return min(passes, key=sum)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report_size(
    size: int, messages: list[bytes], baseline_cases: int, workers: int
) -> dict[str, float]:
    index, seconds, generation, grown = build(size, workers)
    print(f"\n== {size:,} cases ==")
    print(
        f"index build      {seconds:8.1f} s  on {workers} core(s) "
        f"(case generation, not counted: {generation:.1f} s)"
    )
    print(
        f"index memory     {index.nbytes() / size:8.0f} B/case in arrays+records; "
        f"RSS growth {grown / size:.0f} B/case"
    )
    scan_times(index, messages[:20])  # warm caches
    times = best_pass(index, messages)
    rate = len(times) / sum(times)
    p50, p99 = percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
    print(
        f"gateway scan     {rate:8.0f} msg/s per core   p50 {p50:.2f} ms   p99 {p99:.2f} ms"
        f"   (CPU time, best of {PASSES} passes)"
    )
    naive = naive_seconds_per_message(messages[:5], baseline_cases) * size
    print(
        f"naive baseline   {1 / naive:8.3f} msg/s per core   ({naive * 1000:.0f} ms per message, "
        f"rapidfuzz over every entry; timed on {baseline_cases:,} cases, scaled)"
    )
    print(f"ratio            gateway is {naive * rate:,.0f}x faster than the naive baseline")
    ok = rate >= TARGET_RATE and p99 <= TARGET_P99_MS
    print(
        f"target           >= {TARGET_RATE:.0f} msg/s and p99 <= {TARGET_P99_MS} ms: "
        f"{'met' if ok else 'NOT met'}"
    )
    found = leaks_found(index, size, workers)
    print(f"sanity           {found[0]}/{found[1]} planted leaks held")
    return {"rate": rate, "build": seconds, "bytes": index.nbytes() / size}


def naive_seconds_per_message(messages: list[bytes], cases: int) -> float:
    """rapidfuzz partial_ratio of every name, address and phone against the body."""
    from rapidfuzz.fuzz import partial_ratio

    entries = [
        value
        for case in synthetic.cases(cases)
        for person in case.protected
        for value in (person.name, *person.addresses, *person.phones)
    ]
    texts = [normalise.fold(raw.decode("utf-8", "replace")) for raw in messages]
    started = time.process_time()
    for text in texts:
        for value in entries:
            partial_ratio(value.lower(), text, score_cutoff=90)
    return (time.process_time() - started) / len(texts) / cases


def leaks_found(index: Index, size: int, workers: int) -> tuple[int, int]:
    """Plant a few cases' addresses in messages to restricted contacts; count holds."""
    policy = load_policy(default_policy_dir())
    wanted = [
        case
        for k in range(workers)
        for n, case in enumerate(itertools.islice(synthetic.part(size, workers, k), 100))
        if n in (0, 99)
    ]
    held = 0
    for case in wanted:
        body = f"Hello,\n\nShe moved to {case.protected[0].addresses[0]}.\n"
        raw = f"Subject: x\nTo: {case.restricted[0].emails[0]}\n\n{body}".encode()
        envelope = Envelope("a@council.example.gov.uk", (case.restricted[0].emails[0],), raw)
        held += scan(envelope, index, policy, ScanSettings()).verdict.action.value == "quarantine"
    return held, len(wanted)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--baseline-cases", type=int, default=2_000)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes building the index (scanning is measured on one)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=2.0,
        help="scan time budget (s) for the hostile corpus's worst case",
    )
    parser.add_argument("--smtp", action="store_true", help="also run the SMTP load test")
    smtp_load.add_arguments(parser)
    parser.add_argument("--milter", action="store_true", help="also run the milter benchmark")
    milter.add_arguments(parser)
    parser.add_argument(
        "--pg", action="store_true", help="also run the nodes-on-PostgreSQL benchmark"
    )
    pg_nodes.add_arguments(parser)
    register_life.add_arguments(parser)
    args = parser.parse_args()
    messages = synthetic.messages(CORPUS, args.messages)
    # One small build first, so one-off costs (the nickname list, caches, the worker
    # pool's imports) are not counted as memory per case of the first size measured.
    build(2_000, args.workers)
    print(f"{len(messages)} plain-text messages of ~10 KB (bodies from shared/corpus/ham)")
    results = {
        size: report_size(size, messages, args.baseline_cases, args.workers) for size in args.sizes
    }
    if len(results) > 1:
        small, large = min(results), max(results)
        ratio = results[large]["rate"] / results[small]["rate"]
        print(f"\nthroughput {large:,} vs {small:,} cases: {ratio:.2f}x (target >= 0.9x)")
        print(
            f"build {large:,}: {results[large]['build']:.1f} s (target <= 60 s); "
            f"{results[large]['bytes']:.0f} B/case (target <= 1024)"
        )
    print()
    documents.report(args.pages)
    print()
    ocr_bench.report()
    print()
    pdfpages.run([])
    print()
    worst_case.report(args.budget)
    register_life.report(args.life_sizes, args.life_timeout)
    if args.smtp:
        smtp_load.report(args)
    if args.milter:
        reason = milter.available()
        if reason is None:
            milter.report(args)
        else:
            print(f"\nmilter benchmark skipped: {reason}")
    if args.pg:
        reason = pg_nodes.available(args)
        if reason is None:
            pg_nodes.report(args)
        else:
            print(f"\npg_nodes benchmark skipped: {reason}")


if __name__ == "__main__":
    main()
