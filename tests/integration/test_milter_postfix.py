"""``gateway milter`` behind a real Postfix (``smtpd_milters`` and ``non_smtpd_milters``),
relaying into smtp-sink.

Clean mail, over SMTP or from ``sendmail -t``, reaches the sink with its headers intact;
a leak is held in the encrypted quarantine with Postfix's queue id and never reaches
the sink; with the milter down, Postfix answers 4xx (``milter_default_action =
tempfail``) and nothing is lost; a release from the CLI or the review console reaches
the sink once.

Recipients Postfix rewrites (``virtual_alias_maps``, ``recipient_bcc_maps``,
``always_bcc``): milters are given the recipients as submitted, before cleanup rewrites
them, so a leak to an alias of the restricted contact is delivered in the usual layout;
with the milter on a second pass, after the rewriting (deploy/postfix/milter.md), it is
held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import smtplib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from gateway.crypto import KeyRing
from gateway.store import HeldMessage, Store

from .console_support import csrf_token, http_login
from .postfix.harness import (
    GATEWAY_BIN,
    HOST,
    INTERNAL_DOMAIN,
    REGISTER,
    Postfix,
    Sink,
    _stop_process,
    _tool,
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
PICKUP = re.compile(r"postfix/pickup\[\d+\]: ([0-9A-Za-z]+): uid=")

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

    def scanned(self) -> list[str]:
        """The action of each scan the gateway logged, in order."""
        events = [json.loads(line) for line in self.output().splitlines() if line[:1] == "{"]
        return [e["action"] for e in events if e.get("event") == "scanned"]

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
def start_milter(
    workdir: Path, port: int, upstream_port: int, console_port: int | None = None
) -> Iterator[Milter]:
    """``gateway milter --listen inet:127.0.0.1:PORT`` until the block ends (with its
    review console on ``console_port`` if given)."""
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
        *(["--console", f"{HOST}:{console_port}"] if console_port else []),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    milter = Milter(proc, data_dir, log)
    try:
        # the socket is bound first but listens only once the scanner is ready
        ports = [port] + ([console_port] if console_port else [])
        up = lambda: proc.poll() is not None or all(map(port_open, ports))  # noqa: E731
        wait_until(up, 60, "gateway milter")
        assert proc.poll() is None, f"gateway milter exited:\n{milter.output()}"
        yield milter
    finally:
        _stop_process(proc)
        print(f"--- gateway milter (exit {proc.returncode}) ---\n{milter.output()}")


@contextlib.contextmanager
def postfix_with_milter(
    root: Path,
    listen_port: int,
    sink_port: int,
    milter_port: int,
    reinject_port: int,
    main_cf: str = "",
) -> Iterator[Postfix]:
    """Postfix relaying to the sink, every message received over SMTP (smtpd_milters)
    or submitted with sendmail(1) (non_smtpd_milters) passed to the milter first; and a
    second smtpd without the milter, where the gateway re-injects released mail.
    ``main_cf``: more lines for main.cf."""
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
    with (pf.config_dir / "main.cf").open("a") as main:
        main.write(
            f"smtpd_milters = inet:{HOST}:{milter_port}\n"
            f"non_smtpd_milters = inet:{HOST}:{milter_port}\n"
            "milter_default_action = tempfail\n"
            "milter_protocol = 6\n"
            "milter_connect_timeout = 5s\n" + main_cf
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
    # Generous: on a loaded machine smtpd's greeting waits for the milter's answer to
    # the connect event.
    with smtplib.SMTP(HOST, port, timeout=120) as smtp:
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


def assert_intact(sent: EmailMessage, arrived: bytes) -> None:
    """``arrived`` is ``sent`` with its headers and body unchanged, plus Received
    headers and at most the gateway's stamp header."""
    added = added_headers(sent, arrived)
    assert len(added) <= 1, added
    for name, value in added:
        assert ("x-safe-address-gateway", "scanned by") == (name, value[:10]), added


@dataclass
class Setup:
    in_port: int
    milter_port: int
    reinject_port: int
    pf: Postfix
    sink: Sink

    def milter(self, console_port: int | None = None) -> contextlib.AbstractContextManager[Milter]:
        """``gateway milter`` for this Postfix, re-injecting releases without the milter."""
        return start_milter(
            self.pf.root.parent / "gw", self.milter_port, self.reinject_port, console_port
        )


@contextlib.contextmanager
def make_setup(main_cf: str = "", files: dict[str, str] | None = None) -> Iterator[Setup]:
    """The sink, and Postfix with the milter; ``main_cf``: more main.cf lines, which may
    name the ``files`` (name -> text) written into the work folder as ``{workdir}/NAME``."""
    require_postfix()
    workdir = make_workdir("gw-milter-")
    sink_port, in_port, milter_port, reinject_port = free_ports(4)
    for name, text in (files or {}).items():
        (workdir / name).write_text(text)
    try:
        with (
            start_sink(workdir / "sink", sink_port) as sink,
            postfix_with_milter(
                workdir / "pf",
                in_port,
                sink_port,
                milter_port,
                reinject_port,
                main_cf.replace("{workdir}", str(workdir)),
            ) as pf,
        ):
            yield Setup(in_port, milter_port, reinject_port, pf, sink)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def setup() -> Iterator[Setup]:
    with make_setup() as running:
        yield running


def test_a_clean_message_reaches_the_sink_with_its_headers_intact(setup: Setup) -> None:
    """Deliver -> accept: the message arrives as sent (Postfix adds only Received)."""
    with setup.milter() as milter:
        msg = build_mail(to=[LANDLORD], subject="Repairs", body="The boiler is fixed.\n")
        code, reply = send(setup.in_port, msg, [LANDLORD])
        assert 250 == code, reply
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        setup.pf.wait_queue_empty(60)
        assert_intact(msg, arrived.data)
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
        body = arrived.message.get_body()
        assert body is not None
        assert SAFE_ADDRESS in body.get_content()


def test_a_release_from_the_console_reaches_the_sink_once_as_sent(setup: Setup) -> None:
    """Reviewers release a milter-held leak from the review console, over HTTP: they
    see Postfix's queue id; a reviewer approves, a senior reviewer releases (a critical
    hold needs both); the message reaches the sink once, its headers as sent."""
    (console_port,) = free_ports(1)
    with setup.milter(console_port) as gw:
        msg = build_mail(to=[MARK], subject="Your new address", body=f"It is {SAFE_ADDRESS}.\n")
        assert 250 == send(setup.in_port, msg, [MARK])[0]
        wait_until(lambda: bool(setup.pf.log_lines("milter-discard")), 60, "the discard")
        (held,) = gw.held()
        for name, role in (("rita", "reviewer"), ("sue", "senior")):
            added = gw.cli(
                "user", "add", name, "--email", f"{name}@{INTERNAL_DOMAIN}", "--role", role
            )
            assert 0 == added.returncode, added.stderr
        for name, notice in (("rita", "approved"), ("sue", "released")):
            with httpx.Client(base_url=f"http://{HOST}:{console_port}", timeout=60) as client:
                assert 303 == http_login(client, name, PASSWORD).status_code
                page = client.get(f"/messages/{held.id}")
                assert 200 == page.status_code
                assert held.mta_queue_id in page.text  # shown to the reviewer
                done = client.post(
                    f"/messages/{held.id}/release",
                    data={
                        "csrf": csrf_token(client, f"/messages/{held.id}"),
                        "reason": "checked with the case officer",
                        "password": PASSWORD,
                    },
                )
                assert 303 == done.status_code, done.text
                assert done.headers["location"].endswith(f"?notice={notice}")
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        setup.pf.wait_queue_empty(60)  # nothing more on its way to the sink
        assert 1 == setup.pf.sent_to_sink()
        assert 1 == setup.sink.count()
        assert (MARK,) == arrived.rcpt_to
        extra = dict(added_headers(msg, arrived.data))  # asserts the rest arrived as sent
        assert held.id in extra.pop("x-safe-address-released")
        assert set(extra) <= {"x-safe-address-gateway"}, extra  # a stamp, if any
        assert ["released"] == [m.status for m in gw.held()]


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


# --------------------------------------------------------------------------- sendmail(1)


def sendmail(pf: Postfix, msg: EmailMessage) -> None:
    """``sendmail -t`` into ``pf``, as a script on the host would: recipients from the
    headers, the message on stdin; it goes through postdrop, pickup and cleanup."""
    done = subprocess.run(
        [_tool("sendmail"), "-C", str(pf.config_dir), "-f", str(msg["From"]), "-t", "-i"],
        input=msg.as_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr.decode(errors="replace")


def test_sendmail_t_clean_mail_passes_the_milter_and_arrives_intact(setup: Setup) -> None:
    """non_smtpd_milters: a clean message submitted with ``sendmail -t`` is scanned by
    the gateway and reaches the sink with its headers intact."""
    with setup.milter() as milter:
        msg = build_mail(to=[LANDLORD], subject="Repairs", body="The boiler is fixed.\n")
        sendmail(setup.pf, msg)
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        setup.pf.wait_queue_empty(60)
        assert_intact(msg, arrived.data)
        assert (LANDLORD,) == arrived.rcpt_to
        assert 1 == len(picked_up(setup.pf))
        assert ["deliver"] == milter.scanned()
        assert [] == milter.held()


def test_sendmail_t_leak_is_held_with_its_queue_id_and_not_delivered(setup: Setup) -> None:
    """non_smtpd_milters: a leak submitted with ``sendmail -t`` is held (with the queue
    id cleanup gave it), discarded, and never reaches the sink."""
    with setup.milter() as milter:
        msg = build_mail(to=[MARK], subject="Your new address", body=f"It is {SAFE_ADDRESS}.\n")
        sendmail(setup.pf, msg)
        wait_until(lambda: bool(setup.pf.log_lines("milter-discard")), 60, "the discard")
        (discarded,) = [m[1] for m in map(DISCARD.search, setup.pf.log_text().splitlines()) if m]
        assert [discarded] == picked_up(setup.pf)
        (held,) = milter.held()
        assert discarded == held.mta_queue_id
        assert (MARK,) == held.rcpt_tos
        assert [] == added_headers(msg, held.raw)
        setup.pf.wait_queue_empty(60)
        assert [] == list((setup.pf.root / "queue" / "maildrop").iterdir())
        assert 0 == setup.sink.count()
        assert [] == setup.sink.attempts()


def test_sendmail_t_with_the_milter_down_waits_in_the_maildrop_and_arrives_once(
    setup: Setup,
) -> None:
    """No milter: cleanup tempfails the message and pickup leaves it in the maildrop;
    once the milter runs and pickup looks again (every 60 s, or woken as here), it is
    scanned and delivered, once."""
    msg = build_mail(to=[LANDLORD], subject="Minutes", body="Attached below.\n")
    sendmail(setup.pf, msg)
    wait_until(lambda: bool(setup.pf.log_lines("milter-reject", "4.7.1")), 60, "a tempfail")
    assert ["maildrop"] == [entry["queue_name"] for entry in setup.pf.queue()]
    assert 0 == setup.sink.count()
    with setup.milter() as milter:
        kick = [_tool("postkick"), "-c", str(setup.pf.config_dir), "public", "pickup", "W"]
        assert 0 == subprocess.run(kick, capture_output=True, timeout=30, check=False).returncode
        (arrived,) = setup.sink.wait_for(1, timeout=90)
        setup.pf.wait_queue_empty(60)
        assert str(msg["Message-ID"]) in arrived.data.decode()
        assert 1 == setup.pf.sent_to_sink()
        assert ["deliver"] == milter.scanned()


def picked_up(pf: Postfix) -> list[str]:
    """Queue ids of the messages pickup(8) took from the maildrop (sendmail's)."""
    return [m[1] for m in map(PICKUP.search, pf.log_text().splitlines()) if m]


# ------------------------------------------------------------- recipients the MTA rewrites

ALIAS = f"tenancy-team@{INTERNAL_DOMAIN}"  # looks internal; an alias of MARK below
COLLEAGUE = f"housing@{INTERNAL_DOMAIN}"  # internal: the address may go there
#: Postfix settings that send a message for ALIAS or COLLEAGUE to MARK as well
REWRITES = {
    "virtual_alias_maps": (
        ALIAS,
        "virtual_alias_maps = texthash:{workdir}/virtual\n",
        {"virtual": f"{ALIAS} {MARK}\n"},
    ),
    "recipient_bcc_maps": (
        COLLEAGUE,
        "recipient_bcc_maps = texthash:{workdir}/bcc\n",
        {"bcc": f"{COLLEAGUE} {MARK}\n"},
    ),
    "always_bcc": (COLLEAGUE, f"always_bcc = {MARK}\n", {}),
}


@pytest.mark.parametrize("submitted", ["smtp", "sendmail"])
def test_milters_in_postfix_see_recipients_before_virtual_alias_expansion(
    submitted: str,
) -> None:
    """What Postfix does, and why milter.md says what it says: smtpd_milters and
    non_smtpd_milters are given the recipients as submitted, not as virtual_alias_maps
    (or recipient_bcc_maps, always_bcc) rewrite them. A leak to an alias of the
    restricted contact is scanned as mail to an internal address, delivered, and reaches
    the contact. The layout that closes this is tested below."""
    rcpt, main_cf, files = REWRITES["virtual_alias_maps"]
    with make_setup(main_cf, files) as setup, setup.milter() as milter:
        msg = build_mail(to=[rcpt], subject="Your new address", body=f"It is {SAFE_ADDRESS}.\n")
        if submitted == "smtp":
            assert 250 == send(setup.in_port, msg, [rcpt])[0]
        else:
            sendmail(setup.pf, msg)
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        assert (MARK,) == arrived.rcpt_to
        assert ["deliver"] == milter.scanned()
        assert [] == milter.held()
        assert 1 == len(setup.pf.log_lines(f"to=<{MARK}>", f"orig_to=<{rcpt}>", "status=sent"))


@dataclass
class TwoHops:
    """Postfix that rewrites recipients first and runs the milter on a second pass."""

    in_port: int
    scan_port: int
    milter_port: int
    reinject_port: int
    pf: Postfix
    sink: Sink

    def milter(self) -> contextlib.AbstractContextManager[Milter]:
        return start_milter(self.pf.root.parent / "gw", self.milter_port, self.reinject_port)


@contextlib.contextmanager
def milter_after_rewriting(main_cf: str, files: dict[str, str]) -> Iterator[TwoHops]:
    """The layout of milter.md, "Recipients that Postfix rewrites": the submission
    smtpd and pickup (sendmail) have no milter and queue the message, cleanup rewriting
    its recipients; a content_filter hands it, recipients rewritten, to a loopback smtpd
    that has the gateway's milter and rewrites nothing again; a third smtpd, without
    either, is the gateway's upstream for releases."""
    require_postfix()
    workdir = make_workdir("gw-milter-")
    sink_port, in_port, scan_port, milter_port, reinject_port = free_ports(5)
    for name, text in files.items():
        (workdir / name).write_text(text)
    root = workdir / "pf"
    root.mkdir()
    root.chmod(0o755)
    pf = Postfix(root, "plain", in_port, sink_port)
    pf.create()
    master_cf = pf.config_dir / "master.cf"
    text = master_cf.read_text()
    assert text.endswith(f"{HOST}:{in_port} inet n - n - - smtpd\n")  # plain's listener
    pickup = "pickup    unix  n       -       n       60      1       pickup\n"
    assert pickup in text
    hop = f"        -o content_filter=milter-hop:[{HOST}]:{scan_port}\n"
    text = text.replace(pickup, pickup + hop)
    master_cf.write_text(
        text
        + f"""\
        -o syslog_name=postfix/in
{hop}\
milter-hop unix - - n - 10 smtp
        -o syslog_name=postfix/milter-hop
        -o smtp_send_xforward_command=yes
        -o disable_mime_output_conversion=yes
{HOST}:{scan_port} inet n - n - - smtpd
        -o syslog_name=postfix/scan
        -o smtpd_milters=inet:{HOST}:{milter_port}
        -o content_filter=
        -o receive_override_options=no_address_mappings
        -o smtpd_authorized_xforward_hosts=127.0.0.0/8
{HOST}:{reinject_port} inet n - n - - smtpd
        -o syslog_name=postfix/reinject
        -o content_filter=
        -o receive_override_options=no_address_mappings
"""
    )
    with (pf.config_dir / "main.cf").open("a") as main:
        main.write(
            "milter_default_action = tempfail\n"
            "milter_protocol = 6\n"
            "milter_connect_timeout = 5s\n" + main_cf.replace("{workdir}", str(workdir))
        )
    try:
        with start_sink(workdir / "sink", sink_port) as sink:
            try:
                pf.start()
                yield TwoHops(in_port, scan_port, milter_port, reinject_port, pf, sink)
            finally:
                pf.stop()
                print(f"--- Postfix maillog ---\n{pf.log_text()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize(
    ("rewrite", "submitted"),
    [(rewrite, "smtp") for rewrite in sorted(REWRITES)] + [("virtual_alias_maps", "sendmail")],
)
def test_with_rewriting_before_the_milter_a_leak_to_an_added_recipient_is_held(
    rewrite: str, submitted: str
) -> None:
    """Recipients added or changed by Postfix are the ones scanned, when the milter
    runs on the second pass: the leak is held with the contact among its recipients,
    with the scanning smtpd's queue id, and nothing reaches the sink."""
    rcpt, main_cf, files = REWRITES[rewrite]
    with milter_after_rewriting(main_cf, files) as hops, hops.milter() as milter:
        msg = build_mail(to=[rcpt], subject="Your new address", body=f"It is {SAFE_ADDRESS}.\n")
        if submitted == "smtp":
            assert 250 == send(hops.in_port, msg, [rcpt])[0]
        else:
            sendmail(hops.pf, msg)
        wait_until(lambda: bool(hops.pf.log_lines("milter-discard")), 60, "the discard")
        (discarded,) = [m[1] for m in map(DISCARD.search, hops.pf.log_text().splitlines()) if m]
        (held,) = milter.held()
        assert discarded == held.mta_queue_id
        assert MARK in held.rcpt_tos
        # the first pass logs one line per recipient it handed over, naming that id
        handed_over = hops.pf.log_lines("status=sent", f"[{HOST}]:{hops.scan_port}")
        assert handed_over
        assert all(line.endswith(f"queued as {discarded})") for line in handed_over)
        hops.pf.wait_queue_empty(60)
        assert 0 == hops.sink.count()
        assert [] == hops.sink.attempts()


def test_with_rewriting_before_the_milter_clean_mail_still_arrives_once() -> None:
    """The second pass costs clean mail nothing but a queue pass: it arrives once, to
    the rewritten recipient, its headers intact."""
    rcpt, main_cf, files = REWRITES["virtual_alias_maps"]
    with milter_after_rewriting(main_cf, files) as hops, hops.milter() as milter:
        msg = build_mail(to=[rcpt], subject="Minutes", body="Attached below.\n")
        assert 250 == send(hops.in_port, msg, [rcpt])[0]
        (arrived,) = hops.sink.wait_for(1, timeout=60)
        hops.pf.wait_queue_empty(60)
        assert (MARK,) == arrived.rcpt_to
        assert_intact(msg, arrived.data)
        assert ["deliver"] == milter.scanned()
        assert 1 == hops.pf.sent_to_sink()
