"""``gateway milter`` behind a real Postfix (``smtpd_milters``), relaying into smtp-sink.

Clean mail reaches the sink with its headers intact; a leak is held in the encrypted
quarantine with Postfix's queue id and never reaches the sink; with the milter down,
Postfix answers 4xx (``milter_default_action = tempfail``) and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import smtplib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.store import HeldMessage, Store

from .postfix.harness import (
    GATEWAY_BIN,
    HOST,
    INTERNAL_DOMAIN,
    REGISTER,
    Postfix,
    Sink,
    _stop_process,
    build_mail,
    free_ports,
    make_workdir,
    port_open,
    require_postfix,
    start_sink,
    wait_until,
)
from .postfix.test_postfix_paths import added_headers, send

MARK = "mark.whitmore@example.com"  # restricted contact of case DA-2025-0142
SAFE_ADDRESS = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"  # that case's safe address
LANDLORD = "someone@landlord.example"  # external, in no case
PASSWORD = "correct horse battery staple"
DISCARD = re.compile(r"\]: ([0-9A-Za-z]+): milter-discard:")

pytestmark = pytest.mark.slow


@dataclass
class Milter:
    """A running ``gateway milter`` subprocess."""

    proc: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """A ``gateway`` command on this gateway's store (a password on stdin)."""
        return subprocess.run(
            [str(GATEWAY_BIN), *argv, "--data-dir", str(self.data_dir)],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def held(self) -> list[HeldMessage]:
        """Every message in its quarantine, read from the store itself."""
        return asyncio.run(_held(self.data_dir))


async def _held(data_dir: Path) -> list[HeldMessage]:
    keys, _ = KeyRing.for_store(data_dir / "master.key", data_dir / "gateway.sqlite3")
    store = await Store.open(data_dir / "gateway.sqlite3", keys)
    try:
        out = []
        for summary in await store.list_held():
            message = await store.get(summary.id)
            assert message is not None
            out.append(message)
        return out
    finally:
        await store.close()


@contextlib.contextmanager
def start_milter(workdir: Path, port: int, upstream_port: int) -> Iterator[Milter]:
    """``gateway milter --listen inet:127.0.0.1:PORT`` until the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, log = workdir / "data", workdir / "gateway.log"
    args = [
        str(GATEWAY_BIN),
        "milter",
        "--listen",
        f"inet:{HOST}:{port}",
        "--upstream",
        f"{HOST}:{upstream_port}",
        "--data-dir",
        str(data_dir),
        "--register",
        str(REGISTER),
        "--internal-domain",
        INTERNAL_DOMAIN,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    milter = Milter(proc, data_dir, log)
    try:
        # the socket is bound first but listens only once the scanner is ready
        wait_until(lambda: proc.poll() is not None or port_open(port), 60, "gateway milter")
        assert proc.poll() is None, f"gateway milter exited:\n{milter.output()}"
        yield milter
    finally:
        _stop_process(proc)
        print(f"--- gateway milter (exit {proc.returncode}) ---\n{milter.output()}")


@contextlib.contextmanager
def postfix_with_milter(
    root: Path, listen_port: int, sink_port: int, milter_port: int, reinject_port: int
) -> Iterator[Postfix]:
    """Postfix relaying to the sink, every SMTP message passed to the milter first; and
    a second smtpd without the milter, where the gateway re-injects released mail."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    pf = Postfix(root, "plain", listen_port, sink_port)
    pf.create()
    with (pf.config_dir / "master.cf").open("a") as master_cf:
        master_cf.write(
            f"{HOST}:{reinject_port} inet n - n - - smtpd\n"
            "        -o syslog_name=postfix/reinject\n"
            "        -o smtpd_milters=\n"
        )
    with (pf.config_dir / "main.cf").open("a") as main_cf:
        main_cf.write(
            f"smtpd_milters = inet:{HOST}:{milter_port}\n"
            "milter_default_action = tempfail\n"
            "milter_protocol = 6\n"
            "milter_connect_timeout = 5s\n"
        )
    try:
        pf.start()
        yield pf
    finally:
        pf.stop()
        print(f"--- Postfix maillog ---\n{pf.log_text()}")


def first_refusal(port: int, msg: EmailMessage) -> int:
    """Submit ``msg`` as a client would; the code of the first reply that is not 2xx
    (0 if the message was accepted)."""
    with smtplib.SMTP(HOST, port, timeout=30) as smtp:
        smtp.ehlo("client.test")
        code, _ = smtp.mail(str(msg["From"]))
        for rcpt in str(msg["To"]).split(","):
            if code // 100 == 2:
                code, _ = smtp.rcpt(rcpt.strip())
        if code // 100 == 2:
            try:
                code, _ = smtp.data(msg.as_bytes())
            except smtplib.SMTPDataError as exc:
                code = exc.smtp_code
        return 0 if code // 100 == 2 else code


@dataclass
class Setup:
    in_port: int
    milter_port: int
    reinject_port: int
    pf: Postfix
    sink: Sink

    def milter(self) -> contextlib.AbstractContextManager[Milter]:
        """``gateway milter`` for this Postfix, re-injecting releases without the milter."""
        return start_milter(self.pf.root.parent / "gw", self.milter_port, self.reinject_port)


@pytest.fixture
def setup() -> Iterator[Setup]:
    require_postfix()
    workdir = make_workdir("gw-milter-")
    sink_port, in_port, milter_port, reinject_port = free_ports(4)
    try:
        with (
            start_sink(workdir / "sink", sink_port) as sink,
            postfix_with_milter(
                workdir / "pf", in_port, sink_port, milter_port, reinject_port
            ) as pf,
        ):
            yield Setup(in_port, milter_port, reinject_port, pf, sink)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_clean_message_reaches_the_sink_with_its_headers_intact(setup: Setup) -> None:
    """Deliver -> accept: the message arrives as sent (Postfix adds only Received)."""
    with setup.milter() as milter:
        msg = build_mail(to=[LANDLORD], subject="Repairs", body="The boiler is fixed.\n")
        code, reply = send(setup.in_port, msg, [LANDLORD])
        assert 250 == code, reply
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        setup.pf.wait_queue_empty(60)
        assert [] == added_headers(msg, arrived.data)
        assert (LANDLORD,) == arrived.rcpt_to
        assert [] == milter.held()


def test_a_leak_is_held_with_its_postfix_queue_id_and_not_delivered(setup: Setup) -> None:
    """Hold -> quarantined (with Postfix's queue id), then discarded: never delivered."""
    with setup.milter() as milter:
        msg = build_mail(to=[MARK], subject="Your new address", body=f"It is {SAFE_ADDRESS}.\n")
        code, reply = send(setup.in_port, msg, [MARK])
        assert 250 == code, reply  # the client cannot tell a hold from a delivery
        wait_until(lambda: bool(setup.pf.log_lines("milter-discard")), 60, "the discard")
        (discarded,) = [m[1] for m in map(DISCARD.search, setup.pf.log_text().splitlines()) if m]
        (held,) = milter.held()
        assert discarded == held.mta_queue_id
        assert (MARK,) == held.rcpt_tos
        assert [] == added_headers(msg, held.raw)  # as sent, with Postfix's Received
        setup.pf.wait_queue_empty(60)
        assert 0 == setup.sink.count()
        assert [] == setup.sink.attempts()


def test_a_release_of_a_milter_held_message_reaches_the_sink(setup: Setup) -> None:
    """Released from the CLI (two reviewers, as for a critical hold), the message is
    re-injected through the upstream, a Postfix listener without the milter."""
    with setup.milter() as gw:
        msg = build_mail(to=[MARK], subject="Your new address", body=f"It is {SAFE_ADDRESS}.\n")
        assert 250 == send(setup.in_port, msg, [MARK])[0]
        wait_until(lambda: bool(setup.pf.log_lines("milter-discard")), 60, "the discard")
        (held,) = gw.held()
        for name, role in (("rita", "reviewer"), ("sue", "senior")):
            added = gw.cli(
                "user", "add", name, "--email", f"{name}@{INTERNAL_DOMAIN}", "--role", role
            )
            assert 0 == added.returncode, added.stderr
        for name in ("rita", "sue"):
            released = gw.cli(
                "quarantine", "release", held.id, "--reason", "checked", "--user", name,
                "--upstream", f"{HOST}:{setup.reinject_port}",
            )  # fmt: skip
            assert 0 == released.returncode, released.stderr
        assert "accepted by the upstream" in released.stdout
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        assert (MARK,) == arrived.rcpt_to
        assert held.id in arrived.message["X-Safe-Address-Released"]
        assert SAFE_ADDRESS in arrived.message.get_body().get_content()


def test_with_the_milter_down_postfix_tempfails_and_nothing_is_lost(setup: Setup) -> None:
    """No milter: the client gets a 4xx and keeps the message; once the milter runs,
    the same message is accepted and delivered, once."""
    msg = build_mail(to=[LANDLORD], subject="Minutes", body="Attached below.\n")
    assert 4 == first_refusal(setup.in_port, msg) // 100
    assert 0 == setup.sink.count()
    assert [] == setup.pf.queue()
    with setup.milter():
        code, reply = send(setup.in_port, msg, [LANDLORD])
        assert 250 == code, reply
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        assert str(msg["Message-ID"]) in arrived.data.decode()
        setup.pf.wait_queue_empty(60)
        assert 1 == setup.pf.sent_to_sink()


def test_the_milter_killed_mid_message_gives_4xx_and_the_resend_arrives_once(
    setup: Setup,
) -> None:
    """SIGKILL between RCPT and the end of the message: the client gets a 4xx and keeps
    the message; its resend, to a restarted milter, is delivered exactly once."""
    msg = build_mail(to=[LANDLORD], subject="Agenda", body="Items for Tuesday.\n")
    with setup.milter() as gw, smtplib.SMTP(HOST, setup.in_port, timeout=30) as smtp:
        smtp.ehlo("client.test")
        assert 250 == smtp.mail(str(msg["From"]))[0]
        assert 250 == smtp.rcpt(LANDLORD)[0]
        gw.proc.kill()
        gw.proc.wait(30)
        try:
            code = smtp.data(msg.as_bytes())[0]
        except smtplib.SMTPDataError as exc:
            code = exc.smtp_code
    assert 4 == code // 100
    assert 0 == setup.sink.count()
    with setup.milter() as gw:
        assert 250 == send(setup.in_port, msg, [LANDLORD])[0]
        setup.sink.wait_for(1, timeout=60)
        setup.pf.wait_queue_empty(60)
        assert 1 == setup.sink.count()
        assert [] == gw.held()
