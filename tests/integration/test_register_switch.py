"""The switch to a new register version in a running gateway, at full load, and
``gateway register import --wait``.

A version is in force once every scan worker scans with it; from then on every
message whose scan starts is scanned with it.  The full-load test proves that by
causality, not by timing: a client reads whether ``import --wait`` has returned
before it opens its connection, so a message begun after that return was scanned
after the version went in force, whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import smtplib
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from gateway.crypto import KeyRing
from gateway.store import Store
from gateway.store.inforce import InForce
from tests.integration.smtp_support import (
    GATEWAY,
    Gateway,
    SinkHandler,
    held_messages,
    outgoing,
    sink,
    start_gateway,
)
from tests.integration.support import REGISTER

LANDLORD = "lettings@landlord.example"  # restricted in the new version only
CLIENTS = 4  # SMTP clients sending at once, each a new connection per message
BEFORE = 2  # messages per client relayed before the import: mail flows
AFTER = 3  # messages per client begun after --wait returned
NOT_IN_FORCE, NOT_RUNNING = 3, 4


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


def restricting(tmp_path: Path, address: str) -> Path:
    """The example register with ``address`` a restricted contact of its first case."""
    register = yaml.safe_load(REGISTER.read_text(encoding="utf-8"))
    register["cases"][0]["restricted"][0]["emails"].append(address)
    changed = tmp_path / "register-v2.yaml"
    changed.write_text(yaml.safe_dump(register), encoding="utf-8")
    return changed


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``gateway`` command on the store in ``data_dir``."""
    command = [str(GATEWAY), *args, "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def import_and_wait(data_dir: Path, register: Path, *wait: str) -> subprocess.CompletedProcess[str]:
    return cli(data_dir, "register", "import", str(register), "--yes", "--wait", *wait)


@dataclass
class Sent:
    token: str  # in the subject: finds the message upstream or in the quarantine
    after: bool  # begun after --wait returned
    code: int


@dataclass
class Flow:
    """Clients sending to the landlord without pause until each has sent ``AFTER``
    messages begun after ``switched`` was set."""

    gateway: Gateway
    switched: threading.Event = field(default_factory=threading.Event)
    sent: list[Sent] = field(default_factory=list)
    done: threading.Condition = field(default_factory=threading.Condition)

    def client(self, number: int) -> None:
        after = 0
        for count in range(10_000):
            if after >= AFTER:
                return
            begun_after = self.switched.is_set()  # read before the connection opens
            token = f"switch-{number}-{count}"
            body = f"Sarah Whitmore paid the rent. {token}"
            code = send(self.gateway, LANDLORD, outgoing(LANDLORD, body, subject=token))
            with self.done:
                self.sent.append(Sent(token, begun_after, code))
                self.done.notify_all()
            after += begun_after

    def wait_for(self, count: int) -> None:
        with self.done:
            assert self.done.wait_for(lambda: len(self.sent) >= count, timeout=300)


def send(gateway: Gateway, rcpt: str, data: bytes) -> int:
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=120) as client:
        client.ehlo("client.example")
        assert 250 == client.mail("officer@council.example.gov.uk")[0]
        assert 250 == client.rcpt(rcpt)[0]
        return client.data(data)[0]


def scanned_versions(gateway: Gateway) -> dict[str, int]:
    """message id -> the register version that scanned it, from the ``scanned`` lines."""
    lines = [json.loads(line) for line in gateway.logs().splitlines() if line.startswith("{")]
    return {e["message_id"]: e["version"] for e in lines if e.get("event") == "scanned"}


def tokens_by_id(upstream: SinkHandler, data_dir: Path) -> tuple[dict[str, str], set[str]]:
    """token -> gateway message id for every message relayed or held; the held tokens."""
    found, held = {}, set()
    for received in upstream.messages:
        token = re.search(rb"Subject: (switch-\S+)", received.content)
        message_id = re.search(rb"with ESMTP id (\S+);", received.content)
        assert token is not None
        assert message_id is not None
        found[token[1].decode()] = message_id[1].decode()
    for message_id, raw in held_messages(data_dir).items():
        token = re.search(rb"Subject: (switch-\S+)", raw)
        assert token is not None
        found[token[1].decode()] = message_id
        held.add(token[1].decode())
    return found, held


def in_force_and_beat(data_dir: Path) -> tuple[InForce | None, bool]:
    """The store's record of the version in force, and whether a gateway beats."""

    async def read() -> tuple[InForce | None, bool]:
        keys = KeyRing.load(data_dir / "master.key")
        async with await Store.open(data_dir / "gateway.sqlite3", keys) as store:
            beat = await store.heartbeat()
            return await store.in_force(), beat is not None and beat.alive()

    return asyncio.run(read())


def two_free_ports() -> tuple[int, int]:
    """Two ports free now, and not the same one (both are held while they are chosen)."""
    with socket.socket() as one, socket.socket() as two:
        one.bind(("127.0.0.1", 0))
        two.bind(("127.0.0.1", 0))
        return int(one.getsockname()[1]), int(two.getsockname()[1])


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    [value] = [line.split()[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def test_every_message_scanned_after_the_switch_uses_the_new_version(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """Four clients send to the landlord without pause across an import that makes
    the landlord a restricted contact.  Every message begun after the gateway first
    said version 2 is in force (its log line, its metric or ``import --wait``
    returning, whichever came first) is held, scanned with version 2; each message
    is held exactly when version 2 scanned it; the log line comes before any scan
    with version 2, and the log, the metric and the store say version 2 once --wait
    has returned."""
    smtp, port = two_free_ports()
    extra = ("--metrics", f"127.0.0.1:{port}")
    running = start_gateway(
        tmp_path / "data", upstream[1], *extra, env={"GATEWAY_SCAN_PROCESSES": "2"}, port=smtp
    )
    flow = Flow(running)
    clients = [threading.Thread(target=flow.client, args=(n,)) for n in range(CLIENTS)]
    watcher = threading.Thread(target=watch_announcements, args=(running, port, flow.switched))
    try:
        for client in [*clients, watcher]:
            client.start()
        flow.wait_for(BEFORE * CLIENTS)
        waited = import_and_wait(running.data_dir, restricting(tmp_path, LANDLORD))
        announced = (loaded(running, 2), metric(port, "gateway_register_version"))
        flow.switched.set()
    finally:
        flow.switched.set()
        for client in [*clients, watcher]:
            client.join(300)
    try:
        assert 0 == waited.returncode, waited.stderr + running.logs()[-3000:]
        assert "register version 2 in force" in waited.stdout
        assert (True, 2.0) == announced
        now, beating = in_force_and_beat(running.data_dir)
        assert (2, True) == (now.version if now else None, beating)
        assert {250} == {s.code for s in flow.sent}
        ids, held = tokens_by_id(upstream[0], running.data_dir)
        versions = scanned_versions(running)
        version = {s.token: versions[ids[s.token]] for s in flow.sent}
        assert [] == [s.token for s in flow.sent if s.after and version[s.token] != 2]
        assert {t for t, v in version.items() if v == 2} == held
        assert {1, 2} == set(version.values())
        assert CLIENTS * AFTER <= sum(s.after for s in flow.sent)
        assert_announced_before_used(running, 2)
    finally:
        assert 0 == running.stop(), running.logs()[-2000:]


def watch_announcements(gateway: Gateway, port: int, switched: threading.Event) -> None:
    """Set ``switched`` as soon as the log or the metric says version 2 is in force."""
    while not switched.is_set():
        with contextlib.suppress(OSError):  # a gateway that failed fails the test itself
            if loaded(gateway, 2) or 2.0 == metric(port, "gateway_register_version"):
                switched.set()
        time.sleep(0.005)  # a poll for the event, not a wait for it to have happened


def loaded(gateway: Gateway, version: int) -> bool:
    """Whether the log has said ``version`` is in force."""
    return any(
        '"register loaded"' in line and f'"version": {version},' in line
        for line in gateway.logs().splitlines()
    )


def assert_announced_before_used(gateway: Gateway, version: int) -> None:
    """One ``register loaded`` line for ``version``, before every scan with it."""
    lines = [json.loads(line) for line in gateway.logs().splitlines() if line.startswith("{")]
    at = [(e["event"], e.get("version")) for e in lines]
    loaded = [n for n, seen in enumerate(at) if seen == ("register loaded", version)]
    used = [n for n, seen in enumerate(at) if seen == ("scanned", version)]
    assert 1 == len(loaded)
    assert used
    assert loaded[0] < min(used)


def test_import_wait_says_at_once_that_no_gateway_runs(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """A gateway that stopped leaves the version it had in force recorded and no
    heartbeat; an import with --wait is stored and says the gateway is not running,
    with exit status 4, without waiting for its timeout."""
    running = start_gateway(tmp_path / "data", upstream[1])
    try:
        wait_until(lambda: (1, True) == _version_and_beat(running.data_dir))
    finally:
        assert 0 == running.stop(), running.logs()[-2000:]
    assert (1, False) == _version_and_beat(running.data_dir)
    waited = import_and_wait(running.data_dir, restricting(tmp_path, LANDLORD), "--timeout", "600")
    assert NOT_RUNNING == waited.returncode, waited.stderr
    assert "the gateway is not running" in waited.stderr
    assert "version 2 will be in force when it starts" in waited.stderr
    assert "register version 2" in cli(running.data_dir, "register", "list").stdout


def test_import_wait_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """A gateway that beats but does not take the version up (here: a heartbeat the
    test writes) makes --wait give up after --timeout with exit status 3."""
    data_dir = tmp_path / "data"
    assert 0 == cli(data_dir, "keygen").returncode
    assert 0 == cli(data_dir, "register", "import", str(REGISTER), "--yes").returncode

    async def beat() -> None:
        keys = KeyRing.load(data_dir / "master.key")
        async with await Store.open(data_dir / "gateway.sqlite3", keys) as store:
            await store.record_in_force(1, str(REGISTER))
            await store.beat(60.0)

    asyncio.run(beat())
    waited = import_and_wait(data_dir, restricting(tmp_path, LANDLORD), "--timeout", "1")
    assert NOT_IN_FORCE == waited.returncode, waited.stderr
    assert "register version 2 not in force after 1 s (in force: version 1)" in waited.stderr


def wait_until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Poll ``condition`` until it holds (a generous limit, for a loaded machine)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def _version_and_beat(data_dir: Path) -> tuple[int | None, bool]:
    now, beating = in_force_and_beat(data_dir)
    return (None if now is None else now.version), beating
