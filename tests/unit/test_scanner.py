"""The scanner's switch to a new register version: exact, and announced once in force.

The scan pools here are stand-ins whose scans wait until the test answers them, so
each interleaving of scans, switches and answers is played step by step on one loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway import workers
from gateway.envelope import Envelope
from gateway.errors import WorkerLost
from gateway.findings import Match
from gateway.metrics import Metrics
from gateway.policy import default_policy_dir, load_policy
from gateway.scan import ScanResult, ScanSettings
from gateway.scanner import Core, Scanner
from gateway.verdict import Action, Severity, Verdict

T = TypeVar("T")
POLICY = load_policy(default_policy_dir())
ENVELOPE = Envelope("officer@council.example.gov.uk", ("someone@partner.example",), b"Hi\r\n")
OPS = st.lists(
    st.tuples(st.sampled_from(["scan", "switch", "answer", "step"]), st.integers(0, 50)),
    max_size=60,
)


@dataclass
class FakePool:
    """A pool of one register version whose scans each wait for the test's answer;
    like a real one it takes no scan once retired and stops after its last answer."""

    version: int
    closing: bool = False
    closed: bool = False
    waiting: list[asyncio.Future[None]] = field(default_factory=list)

    async def scan(self, envelope: Envelope) -> ScanResult:
        if self.closing:
            raise WorkerLost("scan pool retired")
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append(answer)
        await answer
        verdict = Verdict(Action.DELIVER, Severity.NONE, ())
        return ScanResult(verdict, Match(()), 1.0, self.version)

    async def close(self) -> None:
        self.closing = True
        while not all(answer.done() for answer in self.waiting):
            await asyncio.sleep(0)
        self.closed = True


def core_of(pool: FakePool, source: str = "register.yaml") -> Core:
    real = cast(workers.ScanPool, pool)  # the scanner uses scan, closing and close only
    return Core(None, POLICY, ScanSettings(), pool.version, real, 3, source)


@dataclass
class Played:
    """What each scan saw: the version in force as it started and as it ended, the
    version its result says scanned it, and its action."""

    started: int
    ended: int
    scanned: int
    action: Action


async def play(ops: list[tuple[str, int]]) -> tuple[list[Played], list[FakePool], Scanner]:
    """Scans, switches to the next version and answers, in the order ``ops`` gives,
    one loop step after each; then every scan answered and the scanner closed."""
    pools = [FakePool(1)]
    scanner = Scanner(core_of(pools[0]), 1, 60.0, Metrics())
    in_force = [1]  # the version of the test's last install: the truth to hold it to

    async def one() -> Played:
        started = in_force[0]  # read in the step where the scan starts
        result = await scanner(ENVELOPE)
        return Played(started, in_force[0], result.register_version, result.verdict.action)

    scans: list[asyncio.Task[Played]] = []
    for op, n in ops:
        if op == "scan":
            scans.append(asyncio.create_task(one()))
        elif op == "switch":
            pools.append(FakePool(pools[-1].version + 1))
            assert scanner.install(core_of(pools[-1]))
            in_force[0] = pools[-1].version
        elif op == "answer":
            _answer(pools, n)
        await asyncio.sleep(0)
    while not all(task.done() for task in scans):
        _answer(pools, 0)
        await asyncio.sleep(0)
    await scanner.close()
    return [task.result() for task in scans], pools, scanner


def _answer(pools: list[FakePool], n: int) -> None:
    waiting = [answer for pool in pools for answer in pool.waiting if not answer.done()]
    if waiting:
        waiting[n % len(waiting)].set_result(None)


def run(ops: list[tuple[str, int]]) -> tuple[list[Played], list[FakePool], Scanner]:
    return _on_a_loop(play(ops))


@given(OPS)
@settings(max_examples=200, deadline=None)
def test_every_scan_uses_a_version_in_force_at_or_after_its_start(
    ops: list[tuple[str, int]],
) -> None:
    """Whatever the interleaving of scans, switches and answers, a scan is never
    scanned with a version older than the one in force when it started, nor with one
    not yet in force when it ended."""
    played, _pools, _scanner = run(ops)
    assert [] == [p for p in played if not p.started <= p.scanned <= p.ended]


@given(OPS)
@settings(max_examples=100, deadline=None)
def test_a_switch_fails_no_scan_and_stops_every_retired_pool(
    ops: list[tuple[str, int]],
) -> None:
    """Every scan gets its own answer (none is held as unscannable because its pool
    was retired under it), every pool is stopped by the end, and the metric shows
    the version in force."""
    played, pools, scanner = run(ops)
    assert [] == [p for p in played if p.action is not Action.DELIVER]
    assert [True] * len(pools) == [pool.closed for pool in pools]
    assert float(pools[-1].version) == scanner.metrics.register_version._value.get()


def test_a_scan_started_after_the_switch_goes_to_the_new_pool_while_the_old_finishes() -> None:
    """A scan under way on version 1 finishes there; the scan started after the switch
    is scanned by version 2; version 1's pool takes no scan after the switch."""

    async def scenario() -> tuple[int, int, bool, bool]:
        old, new = FakePool(1), FakePool(2)
        scanner = Scanner(core_of(old), 1, 60.0, Metrics())
        before = asyncio.create_task(scanner(ENVELOPE))
        while not old.waiting:  # until the scan reached version 1's pool
            await asyncio.sleep(0)
        scanner.install(core_of(new))
        after = asyncio.create_task(scanner(ENVELOPE))
        while not new.waiting:
            await asyncio.sleep(0)
        _answer([old, new], 0)
        _answer([old, new], 0)
        results = await asyncio.gather(before, after)
        await scanner.close()
        return results[0].register_version, results[1].register_version, old.closed, new.closed

    assert (1, 2, True, True) == _on_a_loop(scenario())


def test_the_version_in_force_is_logged_once_with_its_source_after_the_switch() -> None:
    """``register loaded`` is logged when the scanner starts and at the switch, each
    time with the version, its case count and its source, and only when the version
    changes: new processes for the same version are not a new version in force."""

    async def scenario() -> list[dict[str, object]]:
        with capture_logs() as logs:
            scanner = Scanner(core_of(FakePool(1)), 1, 60.0, Metrics())
            scanner.install(core_of(FakePool(1)))  # a restart of the same version
            scanner.install(core_of(FakePool(2), "new-register.yaml"))
            await scanner.close()
        return [e for e in logs if e["event"] == "register loaded"]

    expected = [
        {"version": 1, "count": 3, "source": "register.yaml"},
        {"version": 2, "count": 3, "source": "new-register.yaml"},
    ]
    logged = _on_a_loop(scenario())
    assert expected == [{k: e[k] for k in ("version", "count", "source")} for e in logged]


def test_a_core_older_than_the_one_in_force_is_not_installed() -> None:
    """A slow load of version 2 finishing after version 3 went in force is refused,
    and its processes are stopped; version 3 stays in force."""

    async def scenario() -> tuple[bool, int, bool]:
        scanner = Scanner(core_of(FakePool(1)), 1, 60.0, Metrics())
        scanner.install(core_of(FakePool(3)))
        stale = FakePool(2)
        installed = scanner.install(core_of(stale))
        await scanner.close()
        return installed, scanner.core.version, stale.closed

    assert (False, 3, True) == _on_a_loop(scenario())


def _on_a_loop(work: Coroutine[Any, Any, T]) -> T:
    """``work`` run on a loop of its own (the session's loop is left alone)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()
