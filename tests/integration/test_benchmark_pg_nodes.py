"""The nodes-on-PostgreSQL benchmark (``benchmarks/pg_nodes.py``) runs end to end small.

200 messages (1 in 20 a leak) and 100 leaks over 4 connections through one node on
SQLite and two nodes on one throwaway PostgreSQL database (a 500-case register):
every message answered 250 reaches the sink or the store, the leaks are held, both
PostgreSQL nodes take mail, every figure is printed, and nothing started is left
running or on disk.  No figure is compared with a threshold: that is for the benchmark
on a quiet machine, not for a test on a loaded one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks import pg_nodes

pytestmark = pytest.mark.slow

MESSAGES, LEAKS = 200, 100


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its parent is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_pg_nodes_benchmark_runs_and_loses_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """Both stores take every message, hold every leak and print each figure."""
    parser = argparse.ArgumentParser()
    pg_nodes.add_arguments(parser, prefix="")
    args = parser.parse_args(
        [
            f"--messages={MESSAGES}",
            f"--leaks={LEAKS}",
            "--connections=4",
            "--cases=500",
            "--distinct=20",
            "--half-seconds=2",
            "--start-timeout=180",
        ]
    )
    reason = pg_nodes.available(args)
    if reason is not None:
        pytest.skip(f"pg_nodes benchmark: {reason}")

    summary = pg_nodes.report(args)

    out = capsys.readouterr().out
    assert 0 == summary.lost
    peak, half, holds = summary.runs["peak"], summary.runs["half"], summary.runs["holds"]
    assert ["sqlite, 1 node", "postgresql, 2 nodes"] == [r.name for r in peak]
    for run in peak:
        assert MESSAGES == run.accepted == run.counted + run.held, run
        assert 2 == len(run.rounds)
        assert MESSAGES // pg_nodes.LEAK_EVERY == run.held
        assert 0 < run.pct(0.5) <= run.pct(0.99)
    assert 2 == len(peak[1].nodes)
    assert all(count > 0 for count in peak[1].nodes.values())
    direct, *gateways = half
    assert direct.sent == direct.accepted
    assert [direct.sent] * 2 == [r.accepted for r in gateways]
    for run in holds:
        assert (LEAKS, LEAKS, 0) == (run.accepted, run.held, run.counted)
    for phrase in (
        "ratio               throughput postgresql/sqlite",
        "ratio               p50 added postgresql/sqlite",
        "ratio               p99 added postgresql/sqlite",
        "ratio               holds/s postgresql/sqlite",
        "held/s",
        "sqlite, 1 node: 100 new rows in the store for 100 replies 250; 0 reached the sink",
        "2 nodes: 100 new rows in the store for 100 replies 250; 0 reached the sink",
        "noise in this run: a target's two rounds differed by up to",
        "share them with each other, PostgreSQL",
        "noise:",
        "fsync on",
        "lost messages, every run: 0",
    ):
        assert phrase in out
    assert not summary.work.exists()
    assert 5 == len(summary.pids)
    assert [] == [pid for pid in summary.pids if _running(pid)]
