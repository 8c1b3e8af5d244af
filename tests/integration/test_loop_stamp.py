"""The loop-protection stamp with real Postfix: through the milter, and through the SMTP
proxy in a real loop (Postfix relays to the gateway, whose upstream is that Postfix).

Every message let through carries exactly one ``X-Safe-Address-Gateway: scanned by
<hostname>; id=<id>; <date>`` header from each pass; a message that has been round
``max_stamps`` times is refused with ``554 5.4.6`` and relayed no further.
"""

from __future__ import annotations

import json
import shutil
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration.postfix.harness import (
    HOST,
    Postfix,
    build_mail,
    free_ports,
    make_workdir,
    require_postfix,
    wait_until,
)
from tests.integration.postfix.test_postfix_paths import send
from tests.integration.smtp_support import start_gateway
from tests.integration.test_milter_postfix import LANDLORD, Setup, make_setup

pytestmark = pytest.mark.slow

MILTER_HOST = "gateway.localdomain"  # ``gateway milter``'s default hostname
PROXY_HOST = "gateway.council.test"
MAX_STAMPS = 3
LOOPED = b"554 5.4.6 Routing loop detected"


def stamps(data: bytes) -> list[str]:
    """The stamp header values of a message's header block (LF or CRLF, unfolded)."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode()
    lines: list[str] = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    prefix = "x-safe-address-gateway:"
    return [line[len(prefix) :].strip() for line in lines if line.lower().startswith(prefix)]


def prestamped(host: str, count: int, **mail: str) -> EmailMessage:
    """A clean message already carrying ``count`` stamps by ``host`` (as a loop leaves it)."""
    msg = build_mail(to=[LANDLORD], **mail)
    for _ in range(count):
        msg["X-Safe-Address-Gateway"] = (
            f"scanned by {host}; id=0123456789abcdef; Sat, 05 Dec 2026 14:00:00 +0000"
        )
    return msg


def refusal(port: int, msg: EmailMessage) -> tuple[int, bytes | str]:
    """Submit ``msg``; the (code, text) of the reply to the final dot."""
    with smtplib.SMTP(HOST, port, timeout=60) as smtp:
        smtp.ehlo("client.test")
        smtp.mail(str(msg["From"]))
        smtp.rcpt(LANDLORD)
        try:
            code, text = smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error
        return code, text


@pytest.fixture
def setup() -> Iterator[Setup]:
    with make_setup() as running:
        yield running


# ------------------------------------------------------------------------- the milter


def test_milter_delivered_mail_carries_exactly_one_stamp_on_top(setup: Setup) -> None:
    """Through Postfix and the milter: one stamp, inserted at index 0 (Postfix puts it
    above its own Received line), naming the gateway and its message id."""
    with setup.milter() as milter:
        msg = build_mail(to=[LANDLORD], subject="Repairs", body="The boiler is fixed.\n")
        code, reply = send(setup.in_port, msg, [LANDLORD])
        assert 250 == code, reply
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        events = [json.loads(line) for line in milter.output().splitlines() if line[:1] == "{"]
    (stamp,) = stamps(arrived.data)
    (scanned,) = [event for event in events if event.get("event") == "scanned"]
    assert stamp.startswith(f"scanned by {MILTER_HOST}; id={scanned['message_id']}; ")
    headers = [line.split(b":", 1)[0] for line in arrived.data.split(b"\n") if line[:1].isalpha()]
    assert [b"X-Safe-Address-Gateway", b"Received", b"From"] == headers[:3], headers


def test_milter_refuses_mail_stamped_max_stamps_times_and_delivers_nothing(
    setup: Setup,
) -> None:
    """Three stamps of this gateway: Postfix answers the client 554 5.4.6, the sink gets
    nothing and nothing is held; one fewer is scanned and delivered with one more."""
    with setup.milter() as milter:
        looped = prestamped(MILTER_HOST, MAX_STAMPS, subject="Loop")
        assert (554, b"5.4.6 Routing loop detected") == refusal(setup.in_port, looped)
        below = prestamped(MILTER_HOST, MAX_STAMPS - 1, subject="Below")
        assert 250 == refusal(setup.in_port, below)[0]
        (arrived,) = setup.sink.wait_for(1, timeout=60)
        setup.pf.wait_queue_empty(60)
        assert [] == milter.held()
        assert "routing loop refused" in milter.output()
    assert "Below" == arrived.message["Subject"]
    assert MAX_STAMPS == len(stamps(arrived.data))
    assert 1 == setup.sink.count()


# --------------------------------------------------------------- the proxy, in a loop


def test_a_real_loop_through_postfix_is_stopped_at_max_stamps(tmp_path: Path) -> None:
    """Postfix relays everything to the gateway, whose upstream is Postfix again (a
    transport rule that does not see the stamp): the message goes round, gaining a
    stamp each time, until the gateway refuses it with 554 5.4.6 on its fourth
    arrival; Postfix bounces it and nothing goes round any more."""
    require_postfix()
    workdir = make_workdir("gw-loop-")
    try:
        postfix_port, gateway_port = free_ports(2)
        pf = Postfix(workdir / "pf", "plain", postfix_port, gateway_port)
        (workdir / "pf").mkdir()
        pf.create()
        gateway = start_gateway(
            tmp_path / "data",
            postfix_port,
            port=gateway_port,
            env={"GATEWAY_HOSTNAME": PROXY_HOST, "GATEWAY_UPSTREAM_POOL": "0"},
        )
        try:
            pf.start()
            msg = build_mail(to=[LANDLORD], subject="Round and round")
            code, reply = send(postfix_port, msg, [LANDLORD])
            assert 250 == code, reply
            wait_until(
                lambda: bool(pf.log_lines("5.4.6 Routing loop detected", "status=bounced")),
                90,
                f"the loop refused and bounced\n{pf.log_text()}",
            )
            events = [json.loads(ln) for ln in gateway.logs().splitlines() if ln[:1] == "{"]
        finally:
            pf.stop()
            assert 0 == gateway.stop(), gateway.logs()[-3000:]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    names = [e.get("event") for e in events]
    assert "routing loop refused" in names, "the gateway refused nothing"
    first = names.index("routing loop refused")
    # the message went round max_stamps times, then was refused with that many stamps
    assert MAX_STAMPS == names[:first].count("relayed")
    assert (MAX_STAMPS, "warning") == (events[first]["stamps"], events[first]["level"])
    assert "Round and round" not in json.dumps(events)
