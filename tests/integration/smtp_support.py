"""Test peers for the SMTP proxy: an upstream sink that records or misbehaves, and the
gateway itself started as ``gateway serve`` in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.integration.support import REGISTER

REPO = Path(__file__).resolve().parents[2]
GATEWAY = Path(sys.executable).with_name("gateway")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_options: list[str]
    rcpt_options: list[str]


@dataclass
class SinkHandler:
    """Records what the upstream accepts; ``mode`` makes it misbehave at the final dot."""

    mode: str = "accept"  # accept | tempfail | reject | hang | slow
    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)
    counter: int = 0
    delay: float = 2.0  # how long "slow" waits before accepting
    entered: int = 0  # DATA transactions begun, finished or not
    greetings: int = 0  # EHLO/HELO commands: one per connection from the gateway

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.entered += 1
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "tempfail":
            return "451 4.3.0 Upstream busy"
        if self.mode == "reject":
            return "554 5.7.1 Upstream says no"
        if self.mode == "hang":
            await asyncio.sleep(30)
        self.counter += 1
        self.messages.append(
            Received(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                envelope.original_content or b"",
                list(envelope.mail_options),
                list(envelope.rcpt_options),
            )
        )
        return f"250 2.0.0 Ok: queued as 4F{self.counter:08X}"


class DsnSMTP(SMTP):
    """A sink that, like Postfix, knows the DSN parameters and takes long lines."""

    line_length_limit = 64 * 1024

    def _getparams(self, params: Any) -> Any:
        parsed = super()._getparams(params)
        if parsed is None:
            return None
        return {k: v for k, v in parsed.items() if k not in {"RET", "ENVID", "NOTIFY", "ORCPT"}}


class SinkController(Controller):
    def factory(self) -> SMTP:
        return DsnSMTP(self.handler, enable_SMTPUTF8=True)


@contextlib.contextmanager
def sink() -> Iterator[tuple[SinkHandler, int]]:
    handler = SinkHandler()
    port = free_port()
    controller = SinkController(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Gateway:
    """A running ``gateway serve``."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def start_gateway(
    data_dir: Path,
    upstream_port: int,
    *extra: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Gateway:
    port = port or free_port()
    log = data_dir.parent / f"gateway-{port}.log"
    command = [
        str(GATEWAY),
        "--log-level",
        "info",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--upstream",
        f"127.0.0.1:{upstream_port}",
        "--data-dir",
        str(data_dir),
        "--register",
        str(REGISTER),
        "--internal-domain",
        "council.example.gov.uk",
        *extra,
    ]
    environment = {**os.environ, "GATEWAY_UPSTREAM_TIMEOUT": "3", **(env or {})}
    with log.open("ab") as sinkfile:
        process = subprocess.Popen(
            command, stdout=sinkfile, stderr=subprocess.STDOUT, env=environment, cwd=REPO
        )
    gateway = Gateway(port, data_dir, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {gateway.logs()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return gateway
        time.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"gateway did not start: {gateway.logs()[-3000:]}")


def outgoing(to: str, body: str, subject: str = "Update") -> bytes:
    """A plain message from the council's officer to ``to``, as a client sends it."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "officer@council.example.gov.uk", to, subject
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP_POLICY)


def descendants(pid: int) -> dict[int, int]:
    """Every live process below ``pid`` (children of children too) -> its parent."""
    found: dict[int, int] = {}
    pending = [pid]
    while pending:
        parent = pending.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids = [int(child) for child in children.read_text().split()]
                found.update(dict.fromkeys(pids, parent))
                pending += pids
    return found


def held_messages(data_dir: Path) -> dict[str, bytes]:
    """Every message in the quarantine of ``data_dir``, id -> raw bytes, read back unsealed."""
    from gateway.crypto import KeyRing
    from gateway.store import Store

    async def read() -> dict[str, bytes]:
        store = await Store.open(
            data_dir / "gateway.sqlite3", KeyRing.load(data_dir / "master.key")
        )
        try:
            found: dict[str, bytes] = {}
            for summary in await store.list_held(limit=1_000_000):
                held = await store.get(summary.id)
                assert held is not None
                found[summary.id] = held.raw
            return found
        finally:
            await store.close()

    return asyncio.run(read())


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class RawClient:
    """A byte-level SMTP client, for what smtplib would refuse to send."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.reader = self.sock.makefile("rb")
        self.greeting = self.reply()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self.reader.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> tuple[int, bytes]:
        """One whole (possibly multi-line) reply; code 0 if the server closed first."""
        lines: list[bytes] = []
        while True:
            line = self.reader.readline()
            if not line:
                return 0, b"".join(lines)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def command(self, line: bytes) -> tuple[int, bytes]:
        self.send(line + b"\r\n")
        return self.reply()

    def ehlo(self) -> bytes:
        code, text = self.command(b"EHLO client.example")
        assert 250 == code, text
        return text
