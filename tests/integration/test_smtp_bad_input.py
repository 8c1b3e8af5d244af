"""``gateway serve`` fed hostile or broken SMTP: smuggling, oversize, junk, slow clients.

Each test checks the reply, that nothing smuggled or refused reaches the upstream or the
quarantine, and that the gateway still relays a normal message afterwards.
"""

from __future__ import annotations

import re
import smtplib
import socket
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from tests.integration.smtp_support import (
    Gateway,
    RawClient,
    SinkHandler,
    held_messages,
    rss_mib,
    sink,
    start_gateway,
)
from tests.integration.support import MARK, SAFE_ADDRESS

SENDER = "officer@council.example.gov.uk"
CLEAN_RCPT = "someone@partner.example"
MAX_BYTES = 3_000_000
RSS_CEILING_MIB = 600
HEAD = (
    f"From: {SENDER}\r\nTo: {CLEAN_RCPT}\r\nSubject: x\r\nMessage-ID: <first@council.example>\r\n"
).encode()
# The held copy is the bytes scanned: the gateway's own Received line, then the DATA.
TRACE = re.compile(rb"\AReceived: from [^\r\n]*\r\n\tby [^\r\n]*\r\n\t[^\r\n]*\r\n")
EVIL = b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@partner.example>\r\nDATA\r\n"


def _untraced(held: bytes) -> bytes:
    """A held message without the one Received line the gateway put on top of it."""
    trace = TRACE.match(held)
    assert trace is not None, held[:200]
    return held[trace.end() :]


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


@pytest.fixture
def gateway(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> Iterator[Gateway]:
    running = start_gateway(
        tmp_path / "data", upstream[1], env={"GATEWAY_MAX_MESSAGE_BYTES": str(MAX_BYTES)}
    )
    yield running
    assert 0 == running.stop(), running.logs()[-2000:]


def _message(to: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, to, "Update"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@council.example>"
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def _begin(client: RawClient, rcpt: str = CLEAN_RCPT) -> None:
    """EHLO, MAIL, RCPT and DATA, each answered as a well-behaved server would."""
    client.ehlo()
    assert 250 == client.command(f"MAIL FROM:<{SENDER}>".encode())[0]
    assert 250 == client.command(f"RCPT TO:<{rcpt}>".encode())[0]
    assert 354 == client.command(b"DATA")[0]


def _next_message_goes_through(
    gateway: Gateway, upstream: SinkHandler, client: RawClient | None = None
) -> None:
    """A normal message after the bad input is relayed (on the same session if given)."""
    before = len(upstream.messages)
    data = _message(CLEAN_RCPT, "Still here.")
    if client is None:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as fresh:
            fresh.ehlo("client.example")
            assert (250, 250) == (fresh.mail(SENDER)[0], fresh.rcpt(CLEAN_RCPT)[0])
            assert 250 == fresh.data(data)[0]
    else:
        assert 250 == client.command(f"MAIL FROM:<{SENDER}>".encode())[0]
        assert 250 == client.command(f"RCPT TO:<{CLEAN_RCPT}>".encode())[0]
        assert 354 == client.command(b"DATA")[0]
        client.send(data + b".\r\n")
        assert 250 == client.reply()[0]
    assert before + 1 == len(upstream.messages)
    assert upstream.messages[-1].content.endswith(data)


@pytest.mark.parametrize(
    "smuggle",
    [
        b"\r\n.\r" + EVIL + b"smuggled\r\n",  # CR after the dot, then more on the line
        b"\r\n.\rsmuggled\r\n.\r" + EVIL,
        b"\r\n.\r\r\n" + EVIL,  # dot, CR, CRLF
        b"\n.\n\r\n" + EVIL,  # lone dot between bare LFs, then a blank CRLF line
        b"\r\n\n.\n" + EVIL,
        b"\r\n.\x00\r\n" + EVIL,
        b"\r\n .\r\n" + EVIL,
    ],
)
def test_smuggled_end_of_data_variants_relay_one_message(
    gateway: Gateway, upstream: tuple[SinkHandler, int], smuggle: bytes
) -> None:
    """No bare CR or LF, NUL or space near a dot ends the data: one message, one recipient."""
    with RawClient(gateway.port) as client:
        _begin(client)
        client.send(HEAD + b"\r\nhello" + smuggle + b"smuggled\r\n.\r\n")
        assert 250 == client.reply()[0]
        _next_message_goes_through(gateway, upstream[0], client)
    assert 2 == len(upstream[0].messages)
    assert [[CLEAN_RCPT]] * 2 == [m.rcpt_tos for m in upstream[0].messages]
    assert {SENDER} == {m.mail_from for m in upstream[0].messages}
    assert {} == held_messages(gateway.data_dir)


def test_lone_dot_with_bare_lf_at_the_start_of_data_is_not_the_end(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """Data that opens with ".<LF>" is message text, not an empty message."""
    with RawClient(gateway.port) as client:
        _begin(client)
        client.send(b".\n" + EVIL + HEAD + b"\r\nhello\r\n.\r\n")
        assert 250 == client.reply()[0]
    (received,) = upstream[0].messages
    assert (SENDER, [CLEAN_RCPT]) == (received.mail_from, received.rcpt_tos)
    assert b"evil@attacker.example" in received.content  # as text, dot-stuffed upstream
    assert {} == held_messages(gateway.data_dir)


def test_pipelined_transaction_in_one_packet_is_answered_in_order(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """MAIL, RCPT, DATA, the message and QUIT in one write: five replies, one message."""
    data = _message(CLEAN_RCPT, "Pipelined.")
    with RawClient(gateway.port) as client:
        client.ehlo()
        client.send(
            f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{CLEAN_RCPT}>\r\nDATA\r\n".encode()
            + data
            + b".\r\nQUIT\r\n"
        )
        codes = [client.reply()[0] for _ in range(5)]
    assert [250, 250, 354, 250, 221] == codes
    (received,) = upstream[0].messages
    assert received.content.endswith(data)


def test_starttls_is_not_offered_and_is_refused(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """No STARTTLS in EHLO; asking anyway is refused and the session stays in plain text."""
    with RawClient(gateway.port) as client:
        assert b"STARTTLS" not in client.ehlo().upper()
        client.send(b"STARTTLS\r\nNOOP\r\n")
        code, text = client.reply()
        assert code == 454 or 500 <= code < 600, text
        # The pipelined NOOP is answered in clear text: no TLS layer was started.
        assert (250, b"250 ") == (client.reply()[0], b"250 ")
        _next_message_goes_through(gateway, upstream[0], client)
    assert 1 == len(upstream[0].messages)


def test_oversized_message_gets_552_and_the_session_goes_on(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """Over the size limit: 552, nothing relayed or held, the next message on the session works."""
    with RawClient(gateway.port) as client:
        _begin(client)
        line = b"x" * 998 + b"\r\n"
        client.send(HEAD + b"\r\n" + line * (MAX_BYTES // len(line) + 10) + b".\r\n")
        assert 552 == client.reply()[0]
        _next_message_goes_through(gateway, upstream[0], client)
    assert 1 == len(upstream[0].messages)
    assert {} == held_messages(gateway.data_dir)


@pytest.mark.parametrize(
    ("line", "size"),
    [(b"x", 10 * 1024 * 1024), (b"X-Long: " + b"h", 100 * 1024)],
    ids=["10MB-body-line", "100KB-header-line"],
)
def test_over_long_line_gets_500_and_is_not_relayed(
    gateway: Gateway, upstream: tuple[SinkHandler, int], line: bytes, size: int
) -> None:
    """A line beyond RFC 5321's limit: 500, nothing relayed, memory stays bounded."""
    with RawClient(gateway.port, timeout=30) as client:
        _begin(client)
        client.send(HEAD + line + line[-1:] * size + b"\r\n\r\nbody\r\n.\r\n")
        code, text = client.reply()
        assert (500, True) == (code, b"too long" in text.lower()), text
        assert rss_mib(gateway.process.pid) < RSS_CEILING_MIB
        _next_message_goes_through(gateway, upstream[0], client)
    assert 1 == len(upstream[0].messages)
    assert {} == held_messages(gateway.data_dir)


def test_a_long_but_sane_line_is_relayed(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """A 20 KB line (over RFC 5321's 1,000 bytes, common in HTML mail) is not refused."""
    with RawClient(gateway.port, timeout=30) as client:
        _begin(client)
        client.send(HEAD + b"<p>" + b"w" * 20_000 + b"</p>\r\n.\r\n")
        assert 250 == client.reply()[0]
    assert 1 == len(upstream[0].messages)
    assert b"w" * 20_000 in upstream[0].messages[0].content


def test_ten_thousand_mime_parts_are_scanned_or_held_never_relayed_unscanned(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """A leak in the last of 10,000 parts is held within the time budget, in bounded memory."""
    boundary = b"b0undary"
    parts = [b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\npart\r\n"] * 9_999
    last = (
        b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\n"
        b"She lives at " + SAFE_ADDRESS.encode() + b".\r\n--" + boundary + b"--\r\n"
    )
    data = (
        f"From: {SENDER}\r\nTo: {MARK}\r\nSubject: many\r\nMIME-Version: 1.0\r\n".encode()
        + b'Content-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n'
        + b"".join(parts)
        + last
    )
    started = time.monotonic()
    with RawClient(gateway.port, timeout=30) as client:
        _begin(client, MARK)
        client.send(data + b".\r\n")
        code, _ = client.reply()
    elapsed = time.monotonic() - started
    assert 250 == code
    assert elapsed < 12, elapsed
    assert [] == upstream[0].messages
    assert [data] == [_untraced(m) for m in held_messages(gateway.data_dir).values()]
    assert rss_mib(gateway.process.pid) < RSS_CEILING_MIB
    _next_message_goes_through(gateway, upstream[0])


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(b"MAIL FROM:<officer\r@council.example.gov.uk>", id="cr-in-local-part"),
        pytest.param(
            b"MAIL FROM:<officer@council.example.gov.uk\rRCPT TO:<victim@partner.example>>",
            id="cr-then-command",
        ),
        pytest.param(
            b"MAIL FROM:<officer@council.example.gov.uk\nRCPT TO:<victim@partner.example>>",
            id="lf-then-command",
        ),
    ],
)
def test_cr_or_lf_inside_mail_from_is_refused(
    gateway: Gateway, upstream: tuple[SinkHandler, int], command: bytes
) -> None:
    """A CR or LF inside the sender address is a syntax error, never passed upstream."""
    with RawClient(gateway.port) as client:
        client.ehlo()
        code, text = client.command(command)
        assert code in {501, 553}, text
        while client.command(b"NOOP")[0] != 250:  # the rest of a split line, if any
            pass
        assert 503 == client.command(b"RCPT TO:<victim@partner.example>")[0]
        client.command(b"RSET")
        _next_message_goes_through(gateway, upstream[0], client)
    assert [[CLEAN_RCPT]] == [m.rcpt_tos for m in upstream[0].messages]


@pytest.mark.parametrize(
    "rcpt",
    [
        pytest.param(
            b"RCPT TO:<someone@partner.example\rRCPT TO:<victim@partner.example>>",
            id="cr-then-command",
        ),
        pytest.param(
            b"RCPT TO:<someone@partner.example\nRCPT TO:<victim@partner.example>>",
            id="lf-then-command",
        ),
        pytest.param(b"RCPT TO:<some\rone@partner.example>", id="cr-in-local-part"),
    ],
)
def test_cr_or_lf_inside_rcpt_to_never_adds_a_recipient_upstream(
    gateway: Gateway, upstream: tuple[SinkHandler, int], rcpt: bytes
) -> None:
    """A CR or LF inside a recipient is refused; the upstream sees only the real one."""
    with RawClient(gateway.port) as client:
        client.ehlo()
        assert 250 == client.command(f"MAIL FROM:<{SENDER}>".encode())[0]
        code, text = client.command(rcpt)
        assert code in {501, 553}, text
        while client.command(b"NOOP")[0] != 250:
            pass
        assert 250 == client.command(f"RCPT TO:<{CLEAN_RCPT}>".encode())[0]
        assert 354 == client.command(b"DATA")[0]
        client.send(_message(CLEAN_RCPT, "Hello.") + b".\r\n")
        assert 250 == client.reply()[0]
    assert [[CLEAN_RCPT]] == [m.rcpt_tos for m in upstream[0].messages]
    assert {} == held_messages(gateway.data_dir)


def test_non_utf8_headers_and_body_are_scanned_relayed_or_held(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """Latin-1 and invalid bytes: a clean message is relayed as sent, a leak is held."""
    junk = b"caf\xe9 \xff\xfe\x80 na\xefve"
    clean = f"From: {SENDER}\r\nTo: {CLEAN_RCPT}\r\n".encode() + (
        b"Subject: " + junk + b"\r\nX-Junk: \xc3\x28\r\n\r\nBody " + junk + b"\r\n"
    )
    leak = f"From: {SENDER}\r\nTo: {MARK}\r\n".encode() + (
        b"Subject: "
        + junk
        + b"\r\n\r\n"
        + junk
        + b" She lives at "
        + SAFE_ADDRESS.encode()
        + b". "
        + junk
        + b"\r\n"
    )
    for rcpt, data in ((CLEAN_RCPT, clean), (MARK, leak)):
        with RawClient(gateway.port) as client:
            _begin(client, rcpt)
            client.send(data + b".\r\n")
            assert 250 == client.reply()[0]
    (received,) = upstream[0].messages
    assert received.content.endswith(clean)
    assert [leak] == [_untraced(m) for m in held_messages(gateway.data_dir).values()]
    _next_message_goes_through(gateway, upstream[0])


def test_client_that_drops_mid_data_leaves_nothing_behind(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """A connection closed before the final dot: nothing relayed, nothing held."""
    for rcpt in (CLEAN_RCPT, MARK):
        with RawClient(gateway.port) as client:
            _begin(client, rcpt)
            client.send(_message(rcpt, f"She lives at {SAFE_ADDRESS}.")[:-10])
        time.sleep(0.3)
    assert [] == upstream[0].messages
    assert {} == held_messages(gateway.data_dir)
    _next_message_goes_through(gateway, upstream[0])


def test_trickling_client_is_dropped_after_the_idle_timeout(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """One byte at a time in DATA: the connection is closed, nothing relayed, server up."""
    running = start_gateway(tmp_path / "data", upstream[1], env={"GATEWAY_IDLE_TIMEOUT": "2"})
    try:
        with RawClient(running.port) as client:
            _begin(client)
            started, closed_after = time.monotonic(), None
            for byte in HEAD * 4:
                try:
                    client.send(bytes([byte]))
                    time.sleep(0.5)
                except OSError:
                    closed_after = time.monotonic() - started
                    break
            code, _ = client.reply() if closed_after is not None else (None, b"")
        assert closed_after is not None
        assert closed_after < 6, closed_after
        assert code in {0, 421}
        assert [] == upstream[0].messages
        _next_message_goes_through(running, upstream[0])
    finally:
        assert 0 == running.stop(), running.logs()[-2000:]
    assert {} == held_messages(running.data_dir)


def test_slow_client_sending_a_byte_every_few_seconds_is_dropped(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """Silence longer than the idle timeout mid-command closes the connection."""
    running = start_gateway(tmp_path / "data", upstream[1], env={"GATEWAY_IDLE_TIMEOUT": "2"})
    try:
        with RawClient(running.port) as client:
            client.ehlo()
            client.send(b"M")
            time.sleep(3)
            try:
                client.send(b"AIL FROM:<" + SENDER.encode() + b">\r\n")
                code = client.reply()[0]
            except OSError:
                code = 0
        assert code in {0, 421}, code
        assert [] == upstream[0].messages
        with socket.create_connection(("127.0.0.1", running.port), 5) as probe:
            assert probe.recv(100).startswith(b"220 ")
    finally:
        assert 0 == running.stop(), running.logs()[-2000:]


def test_a_session_over_its_total_time_is_closed_with_421(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """A client that never goes idle still cannot hold a connection past the session limit."""
    running = start_gateway(tmp_path / "data", upstream[1], env={"GATEWAY_SESSION_TIMEOUT": "2"})
    try:
        with RawClient(running.port, timeout=10) as client:
            client.ehlo()
            codes = []
            for _ in range(12):
                time.sleep(0.4)
                try:
                    codes.append(client.command(b"NOOP")[0])
                except (OSError, EOFError, ValueError):
                    break
            assert 421 in codes, codes
        with RawClient(running.port, timeout=10) as client:  # the server is still up
            client.ehlo()
    finally:
        assert 0 == running.stop()
