"""The milter benchmark (``benchmarks/milter.py``) runs end to end on a small load.

200 messages over 4 connections through Postfix alone, the accept-all milter and
``gateway milter`` (a 500-case register): every message answered 250 reaches the sink
or the quarantine, the figures are sane, and nothing started is left running or on
disk.  The targets themselves are not asserted: they are the benchmark's to report
on a quiet machine, not a test's on a loaded one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks import milter

pytestmark = pytest.mark.slow

MESSAGES = 200


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its parent is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_milter_benchmark_runs_and_loses_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    reason = milter.available()
    if reason is not None:
        pytest.skip(f"milter benchmark: {reason}")
    parser = argparse.ArgumentParser()
    milter.add_arguments(parser, prefix="")
    args = parser.parse_args(
        [
            f"--messages={MESSAGES}",
            "--connections=4",
            "--cases=500",
            "--distinct=20",
            "--half-seconds=2",
            "--start-timeout=180",
        ]
    )

    summary = milter.report(args)

    out = capsys.readouterr().out
    assert 0 == summary.lost
    assert ["postfix alone", "accept-all", "gateway milter"] == [r.name for r in summary.runs]
    for run in summary.runs:
        assert MESSAGES == run.accepted, run
        assert 0 == run.refused + run.warnings
        assert MESSAGES == run.counted + run.held
        assert run.rate > 0
        assert run.latency is not None
        assert MESSAGES == run.latency.accepted
        assert 0 < run.latency.pct(0.5) <= run.latency.pct(0.99)
    alone, gateway = summary.half
    assert 200 <= alone.sent == gateway.sent == alone.accepted == gateway.accepted
    assert summary.discards == summary.quarantined
    assert summary.ratio > 0
    for phrase in (
        "postfix alone",
        "accept-all",
        "gateway milter",
        "ratios          gateway/accept-all",
        "target          lost messages = 0: 0 met",
    ):
        assert phrase in out
    assert not summary.work.exists()
    assert 4 == len(summary.pids)
    assert [] == [pid for pid in summary.pids if _running(pid)]
