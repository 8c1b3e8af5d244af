"""``gateway serve`` end to end: a real SMTP client, the gateway, and an upstream sink.

Every test counts what it sent against what the upstream received and what was held.
"""

from __future__ import annotations

import re
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.smtp_support import (
    Gateway,
    SinkHandler,
    free_port,
    held_messages,
    outgoing,
    sink,
    start_gateway,
)
from tests.integration.support import MARK, SAFE_ADDRESS

# The gateway's own id, relayed or held alike (the upstream's id is in the log).
QUEUED = re.compile(rb"^2\.0\.0 Ok: queued as Q[0-9a-f]{26}$")


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


@pytest.fixture
def gateway(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> Iterator[Gateway]:
    running = start_gateway(tmp_path / "data", upstream[1])
    yield running
    assert 0 == running.stop(), running.logs()[-2000:]


def _send(gateway: Gateway, rcpts: list[str], data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as client:
        client.ehlo("client.example")
        code, _ = client.mail("officer@council.example.gov.uk")
        assert 250 == code
        for rcpt in rcpts:
            client.rcpt(rcpt)
        return client.data(data)


def _held(gateway: Gateway) -> int:
    return len(held_messages(gateway.data_dir))


def test_clean_mail_is_relayed_with_one_trace_header(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """A message with nothing protected reaches the upstream, byte for byte plus Received."""
    data = outgoing("someone@partner.example", "The meeting is on Tuesday.")
    code, reply = _send(gateway, ["someone@partner.example"], data)
    assert (250, True) == (code, bool(QUEUED.match(reply)))
    (received,) = upstream[0].messages
    head = received.content.partition(b"\r\n\t")[0]
    assert head.startswith(b"Received: from client.example ([127.0.0.1])")
    assert received.content.endswith(b"\r\n" + data)
    assert 1 == received.content.count(b"Received:")
    assert 0 == _held(gateway)
    ours = reply.decode().rsplit(" ", 1)[1]
    assert f'"message_id": "{ours}", "upstream_id": "4F00000001"' in gateway.logs()


def test_leak_is_held_and_the_reply_looks_like_a_relayed_one(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """The protected address to the restricted contact is held; the sender cannot tell."""
    code, reply = _send(gateway, [MARK], outgoing(MARK, f"She lives at {SAFE_ADDRESS}."))
    assert (250, True) == (code, bool(QUEUED.match(reply)))
    assert [] == upstream[0].messages
    assert 1 == _held(gateway)
    assert b"Kingfisher" not in reply
    assert "Kingfisher" not in gateway.logs()


def test_held_messages_survive_a_restart(
    tmp_path: Path, gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """What was held before a restart is still held after it."""
    _send(gateway, [MARK], outgoing(MARK, f"She lives at {SAFE_ADDRESS}."))
    assert 0 == gateway.stop()
    again = start_gateway(gateway.data_dir, upstream[1])
    try:
        assert 1 == _held(again)
        assert '"register unchanged"' in again.logs()  # the same file is not imported twice
    finally:
        assert 0 == again.stop()


@pytest.mark.parametrize(("mode", "expected"), [("tempfail", 451), ("reject", 554), ("hang", 451)])
def test_upstream_refusal_at_the_dot_is_passed_on_and_nothing_is_lost(
    gateway: Gateway, upstream: tuple[SinkHandler, int], mode: str, expected: int
) -> None:
    """4xx and 5xx at the final dot reach the client; a hanging upstream gives 4xx."""
    upstream[0].mode = mode
    code, _ = _send(
        gateway, ["someone@partner.example"], outgoing("someone@partner.example", "Hello")
    )
    assert expected == code
    assert [] == upstream[0].messages
    assert 0 == _held(gateway)


def test_upstream_down_gives_a_temporary_failure(tmp_path: Path) -> None:
    """No upstream listening: the client is told to try again, nothing is accepted."""
    running = start_gateway(tmp_path / "data", free_port())
    try:
        with smtplib.SMTP("127.0.0.1", running.port, timeout=20) as client:
            client.ehlo("client.example")
            code, _ = client.mail("officer@council.example.gov.uk")
            assert 451 == code
    finally:
        assert 0 == running.stop()


def test_refused_recipient_is_reported_to_the_client(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """The upstream's refusal of one recipient reaches the client at RCPT."""
    upstream[0].refuse.add("nobody@partner.example")
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as client:
        client.ehlo("client.example")
        client.mail("officer@council.example.gov.uk")
        assert 550 == client.rcpt("nobody@partner.example")[0]
        assert 250 == client.rcpt("someone@partner.example")[0]
        assert 250 == client.data(outgoing("someone@partner.example", "Hello"))[0]
    assert [["someone@partner.example"]] == [m.rcpt_tos for m in upstream[0].messages]


def test_dsn_parameters_are_accepted_and_passed_on(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """RET, ENVID, NOTIFY and ORCPT are never a 555; the upstream gets them."""
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as client:
        client.ehlo("client.example")
        assert client.has_extn("dsn")
        assert 250 == client.mail("officer@council.example.gov.uk", ["RET=HDRS", "ENVID=X1"])[0]
        rcpt_options = ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;someone@partner.example"]
        assert 250 == client.rcpt("someone@partner.example", rcpt_options)[0]
        assert 250 == client.data(outgoing("someone@partner.example", "Hello"))[0]
    (received,) = upstream[0].messages
    assert {"RET=HDRS", "ENVID=X1"} <= set(received.mail_options)
    assert {"NOTIFY=SUCCESS,FAILURE", "ORCPT=RFC822;SOMEONE@PARTNER.EXAMPLE"} <= {
        o.upper() for o in received.rcpt_options
    }


def test_untrusted_client_gets_554(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> None:
    """Only trusted networks may connect; the greeting says no to the rest."""
    running = start_gateway(
        tmp_path / "data", upstream[1], env={"GATEWAY_TRUSTED_NETWORKS": "10.0.0.0/8"}
    )
    try:
        with socket.create_connection(("127.0.0.1", running.port), 5) as raw:
            assert raw.recv(200).startswith(b"554 5.7.1")
    finally:
        assert 0 == running.stop()


def test_oversized_message_gets_552(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> None:
    """A message over the size limit is refused with 552 and not relayed."""
    running = start_gateway(
        tmp_path / "data", upstream[1], env={"GATEWAY_MAX_MESSAGE_BYTES": "20000"}
    )
    try:
        code, _ = _send(
            running,
            ["someone@partner.example"],
            outgoing("someone@partner.example", "x" * 60 + "\n" * 1 + "y" * 30000),
        )
        assert 552 == code
        assert [] == upstream[0].messages
    finally:
        assert 0 == running.stop()


@pytest.mark.parametrize("smuggle", [b"\n.\r\n", b"\r.\r\n", b"\n.\n", b"\r\n.\r", b"\r\n.\n"])
def test_smuggled_end_of_data_is_not_a_secondoutgoing(
    gateway: Gateway, upstream: tuple[SinkHandler, int], smuggle: bytes
) -> None:
    """A bare CR or LF around a dot never ends the data: one message, nothing smuggled."""
    inner = (
        b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@partner.example>\r\n"
        b"DATA\r\nsmuggled\r\n"
    )
    payload = (
        b"From: officer@council.example.gov.uk\r\nTo: someone@partner.example\r\n"
        b"Subject: x\r\n\r\nhello" + smuggle + inner + b".\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.port), 10) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        for line in (b"EHLO client.example\r\n",):
            raw.sendall(line)
        while not reader.readline().startswith(b"250 "):
            pass
        for command in (
            b"MAIL FROM:<officer@council.example.gov.uk>\r\n",
            b"RCPT TO:<someone@partner.example>\r\n",
            b"DATA\r\n",
        ):
            raw.sendall(command)
            reader.readline()
        raw.sendall(payload)
        final = reader.readline()
        raw.sendall(b"QUIT\r\n")
    assert final.startswith(b"250")
    assert ["someone@partner.example"] == [r for m in upstream[0].messages for r in m.rcpt_tos]
    assert all(m.mail_from != "evil@attacker.example" for m in upstream[0].messages)


def test_metrics_health_and_readiness_are_served(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """The metrics port counts messages by verdict and answers health checks, no content."""
    import time
    import urllib.request

    port = free_port()
    running = start_gateway(tmp_path / "data", upstream[1], "--metrics", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    try:
        _send(running, ["someone@partner.example"], outgoing("someone@partner.example", "Hi"))
        _send(running, [MARK], outgoing(MARK, f"She lives at {SAFE_ADDRESS}."))
        time.sleep(2.5)  # the quarantine gauge is refreshed every 2 s
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as reply:  # noqa: S310
            assert (200, b"ok\n") == (reply.status, reply.read())
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as reply:  # noqa: S310
            assert 200 == reply.status
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as reply:  # noqa: S310
            text = reply.read().decode()
    finally:
        assert 0 == running.stop()
    assert 'gateway_messages_total{action="deliver"} 1.0' in text
    assert 'gateway_messages_total{action="quarantine"} 1.0' in text
    assert "gateway_quarantine_held 1.0" in text
    assert "gateway_scan_seconds_count 2.0" in text
    assert "gateway_relay_seconds_count 1.0" in text
    assert "gateway_relay_errors_total 0.0" in text
    assert "Kingfisher" not in text


def test_held_mail_leaves_no_readable_trace_outside_the_encrypted_store(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """Canary values appear in no file of the data folder (database and WAL included),
    no log line and no reply: the held message is sealed."""
    canaries = [b"Kingfisher", b"LS6 3QT", b"07700 900461", b"sarah.w.safe@example.net"]
    body = f"She lives at {SAFE_ADDRESS}, 07700 900461, sarah.w.safe@example.net."
    code, reply = _send(gateway, [MARK], outgoing(MARK, body))
    assert 250 == code
    assert 1 == _held(gateway)
    files = [p for p in gateway.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith("sqlite3") for p in files)
    for path in files:
        data = path.read_bytes()
        assert [] == [c for c in canaries if c in data], path.name
    logs = gateway.logs().encode()
    assert [] == [c for c in canaries if c in logs + reply]
