"""Mail through a real Postfix, in the before-queue and after-queue set-ups.

First Postfix alone relays into the smtp-sink (proves the harness); then, with
``gateway serve`` in the path, clean mail arrives unchanged but for a trace header and
a leaking message is held in quarantine instead of reaching the sink.  Every message
sent is accounted for as delivered (in the sink) or held (in the quarantine).
"""

from __future__ import annotations

import email
import re
import shutil
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from pathlib import Path

import pytest

from .harness import (
    ALIASED_CONTACT,
    HOST,
    REGISTER,
    TEAM_ALIAS,
    Gateway,
    Mode,
    Postfix,
    Sink,
    build_mail,
    free_ports,
    gateway_quarantine_cli_available,
    gateway_serve_available,
    make_workdir,
    require_postfix,
    start_gateway,
    start_postfix,
    start_sink,
    wait_until,
)

MARK = "mark.whitmore@example.com"  # restricted contact of case DA-2025-0142
SAFE_ADDRESS = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"  # that case's safe address
LANDLORD = "someone@landlord.example"  # external, in no case
QUEUED_AS = re.compile(r"queued as (\S+?)\)?$")
POSTFIX_QUEUE_ID = re.compile(r"postfix/[\w/-]+\[\d+\]: ([0-9A-F]{6,}|[0-9A-Za-z]{12,}):")


@cache
def _serve_available() -> bool:
    return gateway_serve_available()


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = make_workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- helpers


def send(
    port: int, msg: EmailMessage, rcpts: list[str], sender: str | None = None
) -> tuple[int, str]:
    """Submit ``msg`` with smtplib (from ``sender``, else its From); the reply to the
    final dot as (code, text)."""
    with smtplib.SMTP(HOST, port, timeout=30) as smtp:
        smtp.ehlo("client.test")
        code, _ = smtp.mail(str(msg["From"]) if sender is None else sender)
        assert 250 == code
        for rcpt in rcpts:
            code, text = smtp.rcpt(rcpt)
            assert 250 == code, text
        code, text = smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        return code, text.decode("utf-8", "replace")


def split(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """(header name/value pairs as sent, body with LF line ends)."""
    raw = raw.replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    parsed = email.message_from_bytes(head + b"\n\n")
    return [(k.lower(), v) for k, v in parsed.items()], body


def added_headers(sent: EmailMessage, arrived: bytes) -> list[tuple[str, str]]:
    """Headers in ``arrived`` that ``sent`` did not have, Received: excepted.

    Asserts the body and every header that was sent arrived unchanged.
    """
    sent_headers, sent_body = split(sent.as_bytes())
    got_headers, got_body = split(arrived)
    assert sent_body == got_body, "the body changed on the way"
    remaining = [h for h in got_headers if h[0] != "received"]
    for header in sent_headers:
        assert header in remaining, f"header {header} changed or vanished: {got_headers}"
        remaining.remove(header)
    return remaining


def postfix_queue_ids(pf: Postfix) -> set[str]:
    return {m.group(1) for m in map(POSTFIX_QUEUE_ID.search, pf.log_text().splitlines()) if m}


def gateway_replies(pf: Postfix, gateway_port: int) -> list[str]:
    """After-queue: the gateway's replies to the gateway-filter transport, from the maillog."""
    return [
        line.split("status=sent (", 1)[1].rstrip(")")
        for line in pf.log_lines("status=sent", f"[{HOST}]:{gateway_port}")
    ]


def held_ids(replies: list[str], pf: Postfix) -> set[str]:
    """Ids in ``queued as`` replies that are not Postfix queue ids: the gateway's own."""
    ids = {m.group(1) for m in map(QUEUED_AS.search, replies) if m}
    return ids - postfix_queue_ids(pf)


def quarantined(gw: Gateway, candidate_ids: set[str]) -> set[str]:
    """Which of ``candidate_ids`` the gateway's quarantine holds."""
    if gateway_quarantine_cli_available():
        listed = gw.quarantine_list()
        assert 0 == listed.returncode, listed.stderr
        return {i for i in candidate_ids if i in listed.stdout}
    # No `gateway quarantine list` yet: the id must at least be in the data folder.
    found = set()
    for path in gw.data_dir.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            found |= {i for i in candidate_ids if i.encode() in text or i in path.name}
    return found


# --------------------------------------------------------------------------- Postfix alone


def test_postfix_alone_relays_into_the_sink(workdir: Path) -> None:
    require_postfix()
    sink_port, in_port = free_ports(2)
    with (
        start_sink(workdir / "sink", sink_port) as sink,
        start_postfix(workdir / "pf", "plain", listen_port=in_port, relay_port=sink_port) as pf,
    ):
        msg = build_mail(to=[LANDLORD], subject="Harness check", body="Nothing secret.\n")
        code, reply = send(in_port, msg, [LANDLORD])
        assert 250 == code, reply

        (arrived,) = sink.wait_for(1)
        pf.wait_queue_empty()

        assert (LANDLORD,) == arrived.rcpt_to
        assert str(msg["From"]) == arrived.mail_from
        assert [] == added_headers(msg, arrived.data)
        assert 1 == pf.sent_to_sink()


# --------------------------------------------------------------------------- with the gateway


@dataclass
class Path_:
    """Postfix + gateway + sink, wired in one of the two set-ups."""

    mode: Mode
    in_port: int
    gateway_port: int
    pf: Postfix
    gw: Gateway
    sink: Sink

    def replies_from_gateway(self, client_replies: list[str]) -> list[str]:
        if self.mode == "before-queue":
            return client_replies  # Postfix passes the gateway's reply to the client
        return gateway_replies(self.pf, self.gateway_port)


@pytest.fixture(params=["before-queue", "after-queue"])
def mail_path(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Path_]:
    require_postfix()
    if not _serve_available():
        pytest.skip("`gateway serve --help` fails: the SMTP server is not in this checkout yet")
    assert REGISTER.is_file(), f"missing {REGISTER}"
    mode: Mode = request.param
    sink_port, gw_port, in_port, reinject_port = free_ports(4)
    with (
        start_sink(workdir / "sink", sink_port) as sink,
        start_postfix(
            workdir / "pf",
            mode,
            listen_port=in_port,
            relay_port=sink_port,
            gateway_port=gw_port,
            reinject_port=reinject_port,
        ) as pf,
        start_gateway(workdir / "gw", listen_port=gw_port, upstream_port=reinject_port) as gw,
    ):
        yield Path_(mode, in_port, gw_port, pf, gw, sink)


def test_clean_message_arrives_unchanged_but_for_a_trace_header(mail_path: Path_) -> None:
    msg = build_mail(to=[LANDLORD], subject="Boiler", body="The boiler is fixed.\n")

    code, reply = send(mail_path.in_port, msg, [LANDLORD])
    assert 250 == code, reply
    (arrived,) = mail_path.sink.wait_for(1)
    mail_path.pf.wait_queue_empty()

    assert (LANDLORD,) == arrived.rcpt_to
    # body and headers as sent; added, the gateway's loop stamp (gateway.stamp)
    ((name, value),) = added_headers(msg, arrived.data)
    assert ("x-safe-address-gateway", "scanned by ") == (name, value[:11])
    # The gateway's trace header is a Received: line of its own, beside Postfix's.
    traces = [r for r in arrived.message.get_all("Received", []) if "(Postfix)" not in r]
    assert 1 == len(traces), arrived.data.decode(errors="replace")
    assert 1 == mail_path.pf.sent_to_sink()


def test_leaking_message_is_held_and_never_reaches_the_sink(mail_path: Path_) -> None:
    leak = build_mail(
        to=[MARK],
        subject="Forwarding address",
        body=f"Sarah has moved to {SAFE_ADDRESS}; please send the post there.\n",
    )
    clean = build_mail(to=[LANDLORD], subject="Boiler", body="The boiler is fixed.\n")
    sent = [(leak, [MARK]), (clean, [LANDLORD])]

    client_replies = []
    for msg, rcpts in sent:
        code, reply = send(mail_path.in_port, msg, rcpts)
        assert 250 == code, reply
        client_replies.append(reply)

    mail_path.sink.wait_for(1)
    mail_path.pf.wait_queue_empty()
    if mail_path.mode == "after-queue":
        wait_until(
            lambda: len(gateway_replies(mail_path.pf, mail_path.gateway_port)) >= len(sent),
            10,
            "Postfix to log the gateway's reply for every message",
        )

    arrived = mail_path.sink.messages()
    arrived_ids = {m.message["Message-ID"] for m in arrived}
    assert {clean["Message-ID"]} == arrived_ids
    assert not any(b"Kingfisher" in m.data for m in arrived), "the safe address leaked"

    candidates = held_ids(mail_path.replies_from_gateway(client_replies), mail_path.pf)
    held = quarantined(mail_path.gw, candidates)
    assert 1 == len(held), f"gateway replies {client_replies}, candidates {candidates}"
    assert len(sent) == len(arrived) + len(held)


def test_recipients_are_scanned_as_postfix_rewrote_them(mail_path: Path_) -> None:
    """A leak to an internal-looking alias that virtual_alias_maps rewrites to the
    restricted contact.  After-queue, cleanup rewrites the recipients before the
    content_filter, so the gateway scans the contact and holds the message; before-queue,
    the gateway sees the recipients as the client gave them (deploy/postfix/
    before-queue.md says so), and the alias, an internal address, is delivered."""
    assert ALIASED_CONTACT == MARK
    leak = build_mail(to=[TEAM_ALIAS], subject="New address", body=f"It is {SAFE_ADDRESS}.\n")
    code, reply = send(mail_path.in_port, leak, [TEAM_ALIAS])
    assert 250 == code, reply
    mail_path.pf.wait_queue_empty()
    if mail_path.mode == "before-queue":
        (arrived,) = mail_path.sink.wait_for(1)
        assert (MARK,) == arrived.rcpt_to
        return
    wait_until(
        lambda: len(gateway_replies(mail_path.pf, mail_path.gateway_port)) >= 1,
        30,
        "Postfix to log the gateway's reply",
    )
    assert [] == mail_path.sink.messages(), "the rewritten leak reached the sink"
    replies = gateway_replies(mail_path.pf, mail_path.gateway_port)
    assert 1 == len(quarantined(mail_path.gw, held_ids(replies, mail_path.pf))), replies


def test_null_sender_mail_is_relayed_with_the_null_sender(mail_path: Path_) -> None:
    """A read receipt from staff (``MAIL FROM:<>``) passes Postfix and the gateway and
    arrives with the null sender."""
    receipt = build_mail(to=[LANDLORD], subject="Read: Boiler", body="Your message was read.\n")
    code, reply = send(mail_path.in_port, receipt, [LANDLORD], sender="")
    assert 250 == code, reply
    (arrived,) = mail_path.sink.wait_for(1)
    mail_path.pf.wait_queue_empty()
    assert ("", (LANDLORD,)) == (arrived.mail_from, arrived.rcpt_to)
    assert receipt["Message-ID"] == arrived.message["Message-ID"]


# --------------------------------------------------------------------------- sink variants


@pytest.mark.parametrize(("reply_at_dot", "expected"), [("4xx", 450), ("5xx", 500), ("drop", None)])
def test_sink_fault_variants_refuse_at_the_final_dot(
    workdir: Path, reply_at_dot: str, expected: int | None
) -> None:
    """The faulty upstreams later fault tests rely on answer as documented."""
    require_postfix()
    (port,) = free_ports(1)
    with start_sink(workdir / "sink", port, reply_at_dot=reply_at_dot) as sink:  # type: ignore[arg-type]
        msg = build_mail(to=[LANDLORD])
        if expected is None:
            with pytest.raises(smtplib.SMTPServerDisconnected):
                send(port, msg, [LANDLORD])
        else:
            assert (expected,) == send(port, msg, [LANDLORD])[:1]
        assert 0 == sink.count()
        wait_until(lambda: 1 == len(sink.attempts()), 5, "the sink's capture file")


def test_sink_hang_variant_outlasts_a_client_timeout(workdir: Path) -> None:
    require_postfix()
    (port,) = free_ports(1)
    with start_sink(workdir / "sink", port, wait=".:30") as sink:
        with smtplib.SMTP(HOST, port, timeout=1) as smtp:
            smtp.ehlo("client.test")
            smtp.mail("a@example.org")
            smtp.rcpt(LANDLORD)
            with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
                smtp.data(build_mail(to=[LANDLORD]).as_bytes())
        # captured, but never acknowledged within the client's patience
        assert 1 == len(sink.attempts())
