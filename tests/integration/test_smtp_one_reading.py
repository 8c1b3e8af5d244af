"""``gateway serve``: the bytes scanned are the bytes relayed or held, the gateway's own
Received line (with the client's EHLO name) and the line endings included."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.parse import canonical_line_endings
from tests.integration.smtp_support import (
    Gateway,
    RawClient,
    SinkHandler,
    held_messages,
    outgoing,
    sink,
    start_gateway,
)
from tests.integration.support import MARK, SAFE_ADDRESS

SENDER = "officer@council.example.gov.uk"


def _send_raw(gateway: Gateway, rcpt: str, data: bytes) -> int:
    """EHLO, MAIL, RCPT, DATA and ``data`` as it stands; the reply code to the dot."""
    with RawClient(gateway.port) as client:
        client.ehlo()
        assert 250 == client.command(f"MAIL FROM:<{SENDER}>".encode())[0]
        assert 250 == client.command(f"RCPT TO:<{rcpt}>".encode())[0]
        assert 354 == client.command(b"DATA")[0]
        client.send(data + b".\r\n")
        return client.reply()[0]


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


@pytest.fixture
def gateway(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> Iterator[Gateway]:
    running = start_gateway(tmp_path / "data", upstream[1])
    yield running
    assert 0 == running.stop(), running.logs()[-2000:]


def test_an_ehlo_name_carrying_the_address_is_scanned_and_held(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """The client's EHLO name goes into the Received line, which is scanned: held."""
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as client:
        client.ehlo(SAFE_ADDRESS)
        assert 250 == client.mail(SENDER)[0]
        assert 250 == client.rcpt(MARK)[0]
        code, _ = client.data(outgoing(MARK, "The meeting is on Tuesday."))
    assert 250 == code
    assert [] == upstream[0].messages
    (held,) = held_messages(gateway.data_dir).values()
    assert held.startswith(f"Received: from {SAFE_ADDRESS} ([127.0.0.1])".encode())


def test_a_blank_line_of_bare_crs_hides_no_body(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """A body after a ``CR CR LF`` blank line is scanned as the relay would send it."""
    data = (
        f"From: {SENDER}\r\nTo: {MARK}\r\nSubject: Post\r\n\r\r\n"
        f"Please forward her post to {SAFE_ADDRESS}.\r\n"
    ).encode()
    assert 250 == _send_raw(gateway, MARK, data)
    assert [] == upstream[0].messages
    assert 1 == len(held_messages(gateway.data_dir))


def test_what_is_relayed_is_the_trace_line_and_the_canonical_bytes(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """Bare LFs and CRs in clean mail reach the upstream as CRLF, under one Received."""
    data = f"From: {SENDER}\r\nTo: a@partner.example\nSubject: x\r\rhello\rthere\nend\r\n".encode()
    assert 250 == _send_raw(gateway, "a@partner.example", data)
    (received,) = upstream[0].messages
    head, _, rest = received.content.partition(b"\r\nFrom: ")
    assert head.startswith(b"Received: from client.example ([127.0.0.1])")
    assert canonical_line_endings(data) == b"From: " + rest
