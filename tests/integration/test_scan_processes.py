"""Scanning in threads or in worker processes, and a scan process that dies.

A dead worker is replaced; the scan it was doing is tried again on the new one, so
the client still gets a 250 for a message that is relayed or held, never lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import smtplib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchmarks.worst_case import STUCK, names_message, stuck_core
from gateway.envelope import Envelope
from gateway.errors import WorkerLost
from gateway.extract import Limits
from gateway.policy import default_policy_dir
from gateway.store.registers import RegisterSource
from gateway.verdict import Action
from gateway.workers import build_in_process, start_pool
from tests.integration.smtp_support import (
    GATEWAY,
    Gateway,
    SinkHandler,
    descendants,
    held_messages,
    outgoing,
    sink,
    start_gateway,
)
from tests.integration.support import MARK, REGISTER, SAFE_ADDRESS

CLEAN_RCPT = "someone@partner.example"
BUDGET = 1.0  # seconds: the scan budget of the tests of time
INTERNAL = ("council.example.gov.uk",)
SOURCE = RegisterSource(1, REGISTER.read_text(encoding="utf-8"), REGISTER.name)


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


@pytest.fixture
def one_worker(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> Iterator[Gateway]:
    running = start_gateway(tmp_path / "data", upstream[1], env={"GATEWAY_SCAN_PROCESSES": "1"})
    yield running
    assert 0 == running.stop(), running.logs()[-2000:]


def _send(gateway: Gateway, rcpt: str, data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60) as client:
        client.ehlo("client.example")
        assert 250 == client.mail("officer@council.example.gov.uk")[0]
        assert 250 == client.rcpt(rcpt)[0]
        return client.data(data)


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def scan_workers(gateway: Gateway) -> list[int]:
    """The gateway's scan workers: children of its forkserver (the gateway's other
    children, the forkserver and the resource tracker, are its own children).  Each
    is a supervisor, with the process that scans as its child."""
    below = descendants(gateway.process.pid)
    return sorted(pid for pid, parent in below.items() if below.get(parent) == gateway.process.pid)


def scanner_of(worker: int) -> int:
    """The process that scans for ``worker`` (its supervisor): its only child."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = list(descendants(worker))
        if children:
            return children[0]
        time.sleep(0.01)
    raise AssertionError(f"scan worker {worker} has no scanning child")


def cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else -1


def _wait_for_workers(gateway: Gateway, count: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = scan_workers(gateway)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {count} scan workers: {gateway.logs()[-2000:]}")


@pytest.mark.parametrize("processes", ["0", "2"])
def test_threads_and_processes_give_the_same_verdicts(
    tmp_path: Path, upstream: tuple[SinkHandler, int], processes: str
) -> None:
    """Clean mail is relayed and the leak held, whether threads or processes scan."""
    running = start_gateway(
        tmp_path / "data", upstream[1], env={"GATEWAY_SCAN_PROCESSES": processes}
    )
    try:
        assert int(processes) == len(scan_workers(running))
        clean = _send(running, CLEAN_RCPT, outgoing(CLEAN_RCPT, "Hello"))
        leak = _send(running, MARK, outgoing(MARK, f"She lives at {SAFE_ADDRESS}."))
        assert [250, 250] == [clean[0], leak[0]]
        assert 1 == len(upstream[0].messages)
        assert 1 == len(held_messages(running.data_dir))
    finally:
        assert 0 == running.stop(), running.logs()[-2000:]


@pytest.mark.parametrize("processes", ["0", "1"])
def test_a_register_import_is_taken_up_while_mail_flows(
    tmp_path: Path, upstream: tuple[SinkHandler, int], processes: str
) -> None:
    """A new version (the landlord made a restricted contact) is in force without a
    restart once ``register import --wait`` returns: the landlord's next message is
    held; every message sent meanwhile and after gets its 250 and is relayed: none
    is held for want of a scan."""
    running = start_gateway(
        tmp_path / "data", upstream[1], env={"GATEWAY_SCAN_PROCESSES": processes}
    )
    landlord = "lettings@landlord.example"
    to_landlord = outgoing(landlord, "Sarah Whitmore paid the rent.")  # a name: held if restricted
    stop, sent, codes = threading.Event(), threading.Condition(), []

    def flow() -> None:
        while not stop.is_set():
            code = _send(running, CLEAN_RCPT, outgoing(CLEAN_RCPT, "Hello"))[0]
            with sent:
                codes.append(code)
                sent.notify_all()

    sender = threading.Thread(target=flow)
    try:
        assert 250 == _send(running, landlord, to_landlord)[0]
        register = yaml.safe_load(REGISTER.read_text(encoding="utf-8"))
        register["cases"][0]["restricted"][0]["emails"].append(landlord)
        changed = tmp_path / "register.yaml"
        changed.write_text(yaml.safe_dump(register), encoding="utf-8")
        sender.start()
        command = [str(GATEWAY), "register", "import", str(changed), "--yes", "--wait"]
        subprocess.run([*command, "--data-dir", str(running.data_dir)], check=True)
        assert _loaded(running, 2), running.logs()[-2000:]
        assert 250 == _send(running, landlord, to_landlord)[0]
        with sent:  # and some mail after the switch
            switched = len(codes)
            assert sent.wait_for(lambda: len(codes) >= switched + 3, timeout=120)
    finally:
        stop.set()
        sender.join(30)
    try:
        assert {250} == set(codes)
        assert 1 == len(held_messages(running.data_dir))
        assert 1 + len(codes) == len(upstream[0].messages)
    finally:
        assert 0 == running.stop(), running.logs()[-2000:]


def _loaded(gateway: Gateway, version: int) -> bool:
    lines = gateway.logs().splitlines()
    return any('"register loaded"' in line and f'"version": {version},' in line for line in lines)


def test_a_scan_process_killed_while_idle_is_replaced(
    one_worker: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """The next messages are scanned by a new worker, with the same verdicts."""
    [worker] = _wait_for_workers(one_worker, 1)
    os.kill(worker, signal.SIGKILL)
    clean = _send(one_worker, CLEAN_RCPT, outgoing(CLEAN_RCPT, "Hello"))
    leak = _send(one_worker, MARK, outgoing(MARK, f"She lives at {SAFE_ADDRESS}."))
    assert [250, 250] == [clean[0], leak[0]]
    assert 1 == len(upstream[0].messages)
    assert 1 == len(held_messages(one_worker.data_dir))
    assert [worker] != scan_workers(one_worker)
    assert "scan processes restarted" in one_worker.logs()


def test_a_scan_process_killed_mid_scan_loses_nothing(
    one_worker: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """Killed while it scans a large clean message: the scan is tried again on a new
    worker and the message relayed, with one 250 (not held as unscannable); the leak
    after it is held as usual."""
    worker = scanner_of(_wait_for_workers(one_worker, 1)[0])
    filler = "".join(f"Meeting notes line {n}: nothing of note.\n" for n in range(60_000))
    big = outgoing(CLEAN_RCPT, filler, subject="Long notes")
    replies: list[tuple[int, bytes]] = []
    sender = threading.Thread(target=lambda: replies.append(_send(one_worker, CLEAN_RCPT, big)))
    idle = cpu_ticks(worker)
    sender.start()
    deadline = time.monotonic() + 20
    while cpu_ticks(worker) < idle + 5 and time.monotonic() < deadline:  # 50 ms into the scan
        time.sleep(0.01)
    assert cpu_ticks(worker) >= idle + 5, "the worker never started scanning"
    os.kill(worker, signal.SIGKILL)
    sender.join(60)
    assert [250] == [code for code, _ in replies], one_worker.logs()[-2000:]
    assert 1 == one_worker.logs().count("scan process died")
    assert 1 == sum(b"Long notes" in m.content for m in upstream[0].messages)
    assert {} == held_messages(one_worker.data_dir)
    leak = _send(one_worker, MARK, outgoing(MARK, f"She lives at {SAFE_ADDRESS}."))
    assert 250 == leak[0]
    assert 1 == len(held_messages(one_worker.data_dir))
    assert 1 == len(upstream[0].messages)


def test_scan_processes_end_with_a_gateway_killed_by_sigkill(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """No orphans: a worker reads the end of its socket when the server is gone."""
    running = start_gateway(tmp_path / "data", upstream[1], env={"GATEWAY_SCAN_PROCESSES": "2"})
    workers = [
        pid for worker in _wait_for_workers(running, 2) for pid in (worker, scanner_of(worker))
    ]
    running.process.send_signal(signal.SIGKILL)
    running.process.wait(10)
    deadline = time.monotonic() + 10
    while any(_stat(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [] == [pid for pid in workers if _stat(pid)]


def test_a_scan_over_its_budget_is_held_and_the_next_scanned_in_time(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """One scan process, a 1 s budget: 5 MB of name-like text to the restricted
    contact is held as unscannable (a 250, not lost), and the clean message queued
    behind it on the same worker is relayed within 2 s of the budget's end."""
    env = {"GATEWAY_SCAN_PROCESSES": "1", "GATEWAY_SCAN_BUDGET": str(BUDGET)}
    running = start_gateway(tmp_path / "data", upstream[1], env=env)
    try:
        _wait_for_workers(running, 1)
        replies: dict[str, tuple[float, int]] = {}

        def send(name: str, rcpt: str, data: bytes) -> None:
            code = _send(running, rcpt, data)[0]
            replies[name] = (time.monotonic(), code)

        slow = threading.Thread(target=send, args=("slow", MARK, names_message(rcpt=MARK)))
        started = time.monotonic()
        slow.start()
        worker = scanner_of(scan_workers(running)[0])
        idle = cpu_ticks(worker)
        while cpu_ticks(worker) < idle + 5 and time.monotonic() < started + 20:
            time.sleep(0.01)  # until the slow message is being scanned
        scanning = time.monotonic()
        send("clean", CLEAN_RCPT, outgoing(CLEAN_RCPT, "The meeting is on Tuesday."))
        slow.join(60)
        assert {"slow": 250, "clean": 250} == {k: code for k, (_, code) in replies.items()}
        assert replies["clean"][0] - (scanning + BUDGET) < 2.0
        [held] = held_messages(running.data_dir).values()
        assert b"Attendance" in held
        assert [b"Tuesday" in m.content for m in upstream[0].messages] == [True]
        assert "scan over time budget" in running.logs()
    finally:
        assert 0 == running.stop(), running.logs()[-2000:]


# --- the pool itself, without the SMTP server -------------------------------------------


def _envelope(rcpt: str, body: str) -> Envelope:
    return Envelope("officer@council.example.gov.uk", (rcpt,), outgoing(rcpt, body))


@pytest.mark.asyncio
async def test_a_scan_given_up_on_does_not_shift_the_answers_of_the_next() -> None:
    """The worker answers in order; a scan its caller stopped waiting for is answered
    too, and dropped, so each later scan gets its own verdict."""
    pool = await start_pool(1, await build_in_process(SOURCE), default_policy_dir(), INTERNAL)
    try:
        filler = "".join(f"Meeting notes line {n}: nothing of note.\n" for n in range(40_000))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.scan(_envelope(CLEAN_RCPT, filler)), 0.05)
        async with asyncio.timeout(30):
            leak, clean = await asyncio.gather(
                pool.scan(_envelope(CLEAN_RCPT, f"She lives at {SAFE_ADDRESS}.")),
                pool.scan(_envelope(CLEAN_RCPT, "The meeting is on Tuesday.")),
            )
        assert Action.QUARANTINE == leak.verdict.action
        assert Action.DELIVER == clean.verdict.action
        assert not pool.broken
    finally:
        await pool.close()
    assert [False] == [w.process.is_alive() for w in pool.workers]


@pytest.mark.asyncio
async def test_a_scan_process_that_cannot_start_is_reported(tmp_path: Path) -> None:
    """A worker that fails while it builds its index (here: no policy) stops the start
    with WorkerLost, and leaves no process behind."""
    with pytest.raises(WorkerLost, match="did not start"):
        await start_pool(1, await build_in_process(SOURCE), tmp_path / "missing", INTERNAL)
    assert [] == [p for p in multiprocessing.active_children() if p.name == "gateway-scan"]


@pytest.mark.asyncio
async def test_a_scan_process_refuses_an_index_built_with_another_hash_seed() -> None:
    """Index keys are built-in hashes: an index from a process with another seed would
    match nothing, so the worker stops at the start instead of letting leaks through."""
    built = await build_in_process(SOURCE)
    assert built.cases > 0
    foreign = dataclasses.replace(built, check=built.check + 1)
    with pytest.raises(WorkerLost, match="did not start"):
        await start_pool(1, foreign, default_policy_dir(), INTERNAL)


@pytest.mark.asyncio
async def test_a_scan_stuck_past_its_budget_is_killed_and_the_queue_behind_it_kept() -> None:
    """A scan stuck in one C call (it never checks its deadline) is answered as
    unscannable, over time budget, half a second after its budget; its scanning
    process is replaced, and the scans queued behind it on the same worker get their
    own verdicts within a second of the budget's end.  The pool is not broken."""
    built = await build_in_process(SOURCE)
    limits = Limits(time_budget_s=BUDGET)
    pool = await start_pool(1, built, default_policy_dir(), INTERNAL, limits, stuck_core)
    try:
        supervisor = pool.workers[0].process.pid
        assert supervisor is not None
        scanner = scanner_of(supervisor)
        stuck = _envelope(MARK, "Nothing to see.").raw + STUCK
        started = time.monotonic()
        async with asyncio.timeout(30):
            held, leak, clean = await asyncio.gather(
                pool.scan(Envelope("officer@council.example.gov.uk", (MARK,), stuck)),
                pool.scan(_envelope(CLEAN_RCPT, f"She lives at {SAFE_ADDRESS}.")),
                pool.scan(_envelope(CLEAN_RCPT, "The meeting is on Tuesday.")),
            )
        assert time.monotonic() - (started + BUDGET) < 1.0
        assert [("unscannable", "message", "over time budget")] == [
            (f.kind.value, f.location, f.reason) for f in held.match.findings
        ]
        assert Action.QUARANTINE == held.verdict.action
        assert (Action.QUARANTINE, Action.DELIVER) == (leak.verdict.action, clean.verdict.action)
        assert not pool.broken
        assert scanner != scanner_of(supervisor)
        assert pool.workers[0].process.is_alive()
    finally:
        await pool.close()
    assert [False] == [w.process.is_alive() for w in pool.workers]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_fifty_scanned_pages_are_held_at_the_budget_and_the_worker_is_free() -> None:
    """A message of 50 scanned A4 pages at 200 dpi (about two minutes of OCR) is held
    as unscannable at its budget, never delivered unread, and the scan behind it on
    the same worker gets its verdict right after."""
    from email.message import EmailMessage

    from tests.pdfgen import dense_scan

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "officer@council.example.gov.uk", MARK, "report"
    mail.set_content("The assessment is attached.")
    mail.add_attachment(dense_scan(50), maintype="application", subtype="pdf", filename="a.pdf")
    budget = 3 * BUDGET  # time for a page or so of OCR before it runs out
    built = await build_in_process(SOURCE)
    pool = await start_pool(1, built, default_policy_dir(), INTERNAL, Limits(time_budget_s=budget))
    try:
        started = time.monotonic()
        async with asyncio.timeout(60):
            scans = asyncio.ensure_future(
                pool.scan(Envelope("officer@council.example.gov.uk", (MARK,), mail.as_bytes()))
            )
            behind = asyncio.ensure_future(pool.scan(_envelope(CLEAN_RCPT, "See you Tuesday.")))
            held = await scans
            held_at = time.monotonic()
            clean = await behind
            clean_at = time.monotonic()
        assert Action.QUARANTINE == held.verdict.action
        assert ("unscannable", "over time budget") in [
            (f.kind.value, f.reason) for f in held.match.findings
        ]
        # the budget, the kill grace if OCR had to be stopped, and room for a busy box
        assert held_at - started < budget + 3.0
        assert Action.DELIVER == clean.verdict.action
        assert clean_at - held_at < 3.0
        assert not pool.broken
    finally:
        await pool.close()
