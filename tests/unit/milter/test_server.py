"""The milter server driven with MTA bytes: verdicts, quarantine first, bad streams."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway.envelope import Envelope
from gateway.findings import Match
from gateway.milter.server import MilterLimits, MilterServer
from gateway.scan import ScanResult
from gateway.store import HeldMessage, StoreError
from gateway.verdict import Action, Severity, Verdict

QUEUE_ID = "4Xy1Zq2abcD"
HEADERS = [("From", " worker@council.example.gov.uk"), ("Subject", " Visit\n\tnext week")]
BODY = b"Hello.\r\nSee you soon.\r\n"
EXPECTED_RAW = (
    b"From: worker@council.example.gov.uk\r\nSubject: Visit\r\n\tnext week\r\n\r\n" + BODY
)
WAIT = 30.0  # generous: CI is a loaded 2-core box


def packet(letter: bytes, data: bytes = b"") -> bytes:
    return struct.pack("!IB", len(data) + 1, letter[0]) + data


def z(*strings: str) -> bytes:
    return b"".join(s.encode() + b"\0" for s in strings)


def postfix_stream(
    rcpts: Iterable[str] = ("someone@landlord.example",), body: bytes = BODY
) -> bytes:
    """What Postfix 3.7 sends for one message with ``milter_protocol = 6`` (every
    event it can, as it does before it knows what the filter skips)."""
    out = packet(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF))
    out += packet(b"D", b"C" + z("j", "postfix-test.localdomain", "{client_addr}", "127.0.0.1"))
    out += packet(b"C", z("localhost") + b"4" + struct.pack("!H", 40000) + z("127.0.0.1"))
    return out + transaction(rcpts, body)


def transaction(rcpts: Iterable[str] = ("someone@landlord.example",), body: bytes = BODY) -> bytes:
    """One message's events, from the MAIL macros to end of message."""
    out = packet(b"D", b"M" + z("{mail_addr}", "worker@council.example.gov.uk"))
    out += packet(b"M", z("<worker@council.example.gov.uk>", "SIZE=100"))
    for rcpt in rcpts:
        out += packet(b"D", b"R" + z("{rcpt_addr}", rcpt))
        out += packet(b"R", z(f"<{rcpt}>"))
    for name, value in HEADERS:
        out += packet(b"L", z(name, value))
    out += packet(b"B", body)
    out += packet(b"D", b"E" + z("i", QUEUE_ID))
    out += packet(b"E")
    return out


def read_replies(data: bytes) -> list[tuple[bytes, bytes]]:
    """The filter's packets as (letter, data)."""
    out = []
    while data:
        (length,) = struct.unpack_from("!I", data)
        out.append((data[4:5], data[5 : 4 + length]))
        data = data[4 + length :]
    return out


def result(action: Action) -> ScanResult:
    return ScanResult(Verdict(action, Severity.HIGH, ()), Match(()), 1.0, 7)


@dataclass
class FakeScanner:
    action: Action = Action.DELIVER
    error: Exception | None = None
    seen: list[Envelope] = field(default_factory=list)

    async def __call__(self, envelope: Envelope) -> ScanResult:
        self.seen.append(envelope)
        if self.error is not None:
            raise self.error
        return result(self.action)


@dataclass
class FakeQuarantine:
    held: list[HeldMessage] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set, the commit waits for it
    error: Exception | None = None

    async def __call__(self, message: HeldMessage) -> str:
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.held.append(message)
        return message.id


class Conversation:
    """One MTA connection to the server, over a socket pair."""

    def __init__(self, server: MilterServer) -> None:
        self.server = server
        self.ours, theirs = socket.socketpair()
        self.theirs = theirs
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Conversation:
        reader, writer = await asyncio.open_connection(sock=self.theirs)
        self.task = asyncio.create_task(self.server.handle(reader, writer))
        self.reader, self.writer = await asyncio.open_connection(sock=self.ours)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()
        await self.writer.wait_closed()
        assert self.task is not None
        async with asyncio.timeout(WAIT):
            await self.task

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def replies(self, count: int) -> list[tuple[bytes, bytes]]:
        """The next ``count`` replies (fails the test after ``WAIT`` seconds)."""
        out: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(WAIT):
            while len(out) < count:
                (length,) = struct.unpack("!I", await self.reader.readexactly(4))
                body = await self.reader.readexactly(length)
                out.append((body[:1], body[1:]))
        return out

    async def closed(self) -> bool:
        """Whether the server closed the connection (no more bytes, EOF)."""
        async with asyncio.timeout(WAIT):
            return await self.reader.read(1) == b""


def make_server(scanner: FakeScanner, quarantine: FakeQuarantine, **limits: float) -> MilterServer:
    return MilterServer(scanner, quarantine, MilterLimits(**limits))  # type: ignore[arg-type]


async def verdict_for(server: MilterServer, stream: bytes) -> tuple[bytes, bytes]:
    async with Conversation(server) as mta:
        await mta.send(stream)
        negotiated, final = await mta.replies(2)
        assert b"O" == negotiated[0]
        return final


@pytest.mark.asyncio
async def test_a_clean_message_is_accepted_as_rebuilt_from_its_events() -> None:
    """Deliver -> accept; the scan read the headers as received, CRLF, and the body."""
    scanner = FakeScanner(Action.DELIVER)
    server = make_server(scanner, FakeQuarantine())
    assert (b"a", b"") == await verdict_for(server, postfix_stream())
    (envelope,) = scanner.seen
    assert EXPECTED_RAW == envelope.raw
    assert "worker@council.example.gov.uk" == envelope.mail_from
    assert ("someone@landlord.example",) == envelope.rcpt_tos
    assert "127.0.0.1" == envelope.peer


@pytest.mark.asyncio
async def test_the_recipients_scanned_are_those_the_mta_gives_at_rcpt() -> None:
    """Every RCPT the MTA passes (after its own rewriting) is in the scanned envelope."""
    scanner = FakeScanner(Action.DELIVER)
    rcpts = ("a@landlord.example", "mark.whitmore@example.com")
    await verdict_for(make_server(scanner, FakeQuarantine()), postfix_stream(rcpts))
    assert rcpts == scanner.seen[0].rcpt_tos


@pytest.mark.asyncio
async def test_a_leak_is_committed_to_the_quarantine_before_the_discard() -> None:
    """Hold -> no answer while the commit is under way; then discard, and the held
    message carries the bytes scanned and the MTA's queue id."""
    gate = asyncio.Event()
    quarantine = FakeQuarantine(gate=gate)
    server = make_server(FakeScanner(Action.QUARANTINE), quarantine)
    async with Conversation(server) as mta:
        await mta.send(postfix_stream())
        await mta.replies(1)
        early = asyncio.create_task(mta.replies(1))
        done, _ = await asyncio.wait({early}, timeout=0.2)
        assert set() == done, "answered before the quarantine commit"
        gate.set()
        async with asyncio.timeout(WAIT):
            assert [(b"d", b"")] == await early
    (held,) = quarantine.held
    assert QUEUE_ID == held.mta_queue_id
    assert EXPECTED_RAW == held.raw


@pytest.mark.asyncio
async def test_a_quarantine_write_failure_gives_a_4xx_not_a_discard() -> None:
    """The store cannot write: the MTA keeps the message (452), nothing is lost."""
    quarantine = FakeQuarantine(error=StoreError("disk full"))
    server = make_server(FakeScanner(Action.QUARANTINE), quarantine)
    letter, data = await verdict_for(server, postfix_stream())
    assert (b"y", b"452") == (letter, data[:3])


@pytest.mark.asyncio
@pytest.mark.parametrize(("action", "code"), [(Action.REJECT, b"550"), (Action.TEMPFAIL, b"451")])
async def test_reject_and_tempfail_verdicts_are_reply_codes(action: Action, code: bytes) -> None:
    """The policy's refusals reach the MTA as SMTP reply codes with fixed texts."""
    letter, data = await verdict_for(
        make_server(FakeScanner(action), FakeQuarantine()), postfix_stream()
    )
    assert (b"y", code) == (letter, data[:3])
    assert data.endswith(b"\0")


@pytest.mark.asyncio
async def test_a_scan_failure_gives_tempfail() -> None:
    """The scanner raises: 451, the exception's text nowhere in the reply."""
    scanner = FakeScanner(error=RuntimeError("mark.whitmore@example.com"))
    with capture_logs() as logs:
        letter, data = await verdict_for(make_server(scanner, FakeQuarantine()), postfix_stream())
    assert (b"y", b"451") == (letter, data[:3])
    assert b"whitmore" not in data
    assert "whitmore" not in repr(logs)


@pytest.mark.asyncio
async def test_a_scan_past_the_verdict_time_gives_tempfail() -> None:
    """A scan that does not finish in time: 451."""
    never = asyncio.Event()

    class Stuck(FakeScanner):
        async def __call__(self, envelope: Envelope) -> ScanResult:
            await never.wait()
            raise AssertionError("unreachable")

    server = make_server(Stuck(), FakeQuarantine(), verdict_timeout=0.2)
    letter, data = await verdict_for(server, postfix_stream())
    assert (b"y", b"451") == (letter, data[:3])


@pytest.mark.asyncio
async def test_a_message_over_the_size_limit_is_refused_unscanned() -> None:
    """Over ``max_message_bytes``: 552, and nothing kept or scanned."""
    scanner = FakeScanner()
    server = make_server(scanner, FakeQuarantine(), max_message_bytes=100)
    letter, data = await verdict_for(server, postfix_stream(body=b"x" * 200))
    assert (b"y", b"552") == (letter, data[:3])
    assert [] == scanner.seen


@pytest.mark.asyncio
async def test_connections_over_the_limit_get_tempfail() -> None:
    """Overload: a connection beyond ``max_connections`` has its mail tempfailed."""
    scanner = FakeScanner()
    server = make_server(scanner, FakeQuarantine(), max_connections=1)
    async with Conversation(server) as first:
        await first.send(postfix_stream()[:4])  # opened, nothing complete yet
        async with asyncio.timeout(WAIT):
            while server.active < 1:
                await asyncio.sleep(0.01)
        letter, data = await verdict_for(server, postfix_stream())
    assert (b"y", b"451") == (letter, data[:3])
    assert [] == scanner.seen


@pytest.mark.asyncio
async def test_a_malformed_stream_closes_only_its_own_connection() -> None:
    """Garbage on one connection: a fixed log line, that connection closed; another
    connection open at the same time still gets its verdict."""
    server = make_server(FakeScanner(Action.DELIVER), FakeQuarantine())
    with capture_logs() as logs:
        async with Conversation(server) as good, Conversation(server) as bad:
            stream = postfix_stream()
            await good.send(stream[:30])
            await bad.send(packet(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF)))
            await bad.replies(1)
            await bad.send(packet(b"Z", b"junk"))
            assert await bad.closed()
            await good.send(stream[30:])
            assert [(b"a", b"")] == (await good.replies(2))[1:]
    events = [entry["event"] for entry in logs]
    assert ["milter stream malformed, connection closed"] == [
        e for e in events if "milter stream" in e
    ]


@pytest.mark.asyncio
async def test_a_truncated_stream_is_logged_and_nothing_scanned() -> None:
    """The MTA goes away mid-packet: a fixed log line, no scan, no crash."""
    scanner = FakeScanner()
    server = make_server(scanner, FakeQuarantine())
    with capture_logs() as logs:
        async with Conversation(server) as mta:
            await mta.send(postfix_stream()[:-3])
            mta.writer.write_eof()
            assert b"O" == (await mta.replies(1))[0][0]
            assert await mta.closed()
    assert "milter stream truncated, connection closed" in [e["event"] for e in logs]
    assert [] == scanner.seen


@pytest.mark.asyncio
async def test_two_messages_on_one_connection_are_scanned_apart() -> None:
    """After end of message (or abort), the next MAIL starts a new message."""
    scanner = FakeScanner()
    server = make_server(scanner, FakeQuarantine())
    async with Conversation(server) as mta:
        await mta.send(postfix_stream() + packet(b"A") + transaction())
        assert [(b"a", b""), (b"a", b"")] == (await mta.replies(3))[1:]
    assert [EXPECTED_RAW, EXPECTED_RAW] == [e.raw for e in scanner.seen]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30))
def test_any_split_of_the_stream_gives_the_same_message(cuts: list[int]) -> None:
    """However the MTA's bytes are cut into reads, the message scanned is the same."""
    stream = postfix_stream()
    chunks, at = [], 0
    for size in cuts:
        chunks.append(stream[at : at + size])
        at += size
    chunks.append(stream[at:])

    async def run() -> list[bytes]:
        scanner = FakeScanner()
        server = make_server(scanner, FakeQuarantine())
        async with Conversation(server) as mta:
            for chunk in filter(None, chunks):
                await mta.send(chunk)
                await asyncio.sleep(0)
            await mta.replies(2)
        return [e.raw for e in scanner.seen]

    assert [EXPECTED_RAW] == asyncio.run(run())
