"""The SMTP proxy's stamp and loop guard, driven through the aiosmtpd hooks with an
in-memory upstream: what is relayed, what is refused, what is logged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway.envelope import Envelope
from gateway.findings import Match
from gateway.logs import redact
from gateway.scan import ScanResult
from gateway.smtp import replies
from gateway.smtp.handler import GatewayHandler
from gateway.stamp import Stamp
from gateway.store import HeldMessage
from gateway.verdict import Action, Severity, Verdict

HOST = "gateway.council.test"
STAMP = Stamp("X-Safe-Address-Gateway", HOST, max_stamps=3, hop_count_limit=50)
CANARY = "27 Kingfisher Road"
MESSAGE = f"From: officer@council.test\r\nSubject: Visit\r\n\r\nShe lives at {CANARY}.\r\n"


def stamped(count: int, host: str = HOST, header: str = STAMP.header) -> bytes:
    line = f"{header}: scanned by {host}; id=0123; Sat, 05 Dec 2026 14:00:00 +0000\r\n"
    return line.encode() * count + MESSAGE.encode()


@dataclass
class FakeRelay:
    """One upstream session: records the message data and resets."""

    sent: list[bytes] = field(default_factory=list)
    resets: int = 0

    async def data(self, message: bytes) -> str:
        self.sent.append(message)
        return "250 2.0.0 Ok: queued as 4Fabc"

    async def reset(self) -> None:
        self.resets += 1


@dataclass
class FakePool:
    relay: FakeRelay = field(default_factory=FakeRelay)

    def take(self) -> FakeRelay:
        return self.relay


@dataclass
class FakeScanner:
    action: Action = Action.DELIVER
    seen: list[Envelope] = field(default_factory=list)

    async def __call__(self, envelope: Envelope) -> ScanResult:
        self.seen.append(envelope)
        return ScanResult(Verdict(self.action, Severity.HIGH, ()), Match(()), 1.0, 7)


@dataclass
class FakeQuarantine:
    held: list[HeldMessage] = field(default_factory=list)

    async def __call__(self, message: HeldMessage) -> str:
        self.held.append(message)
        return message.id


def make_handler(
    scanner: FakeScanner, stamp: Stamp | None = STAMP, trace: bool = True
) -> tuple[GatewayHandler, FakeRelay, FakeQuarantine]:
    pool, quarantine = FakePool(), FakeQuarantine()
    handler = GatewayHandler(
        pool,  # type: ignore[arg-type]
        scanner,
        quarantine,
        HOST,
        max_recipients=100,
        trace_header=trace,
        stamp=stamp,
    )
    return handler, pool.relay, quarantine


async def data(
    handler: GatewayHandler, content: bytes, rcpts: Sequence[str] = ("a@b.test",)
) -> str:
    """One message through DATA, as aiosmtpd would call the hook; the reply."""
    session = Session(asyncio.get_running_loop())
    session.peer = ("127.0.0.1", 40000)  # type: ignore[assignment]  # a tuple for TCP
    session.host_name = "exchange.test"
    envelope = SmtpEnvelope()
    envelope.mail_from = "officer@council.test"
    envelope.rcpt_tos = list(rcpts)
    envelope.original_content = content
    return await handler.handle_DATA(None, session, envelope)  # type: ignore[arg-type]


def stamp_of(sent: bytes, scanned: bytes) -> bytes:
    """What was relayed but not scanned: the scanned bytes are the Received line and
    the message; the relayed ones have the stamp between them."""
    trace = scanned[: -len(MESSAGE)]
    assert sent.startswith(trace)
    assert sent.endswith(MESSAGE.encode())
    return sent[len(trace) : -len(MESSAGE)]


@pytest.mark.asyncio
async def test_relayed_mail_carries_one_stamp_below_the_received_line() -> None:
    """Deliver: Received (scanned), then the stamp (added after the verdict), then the
    message as it came; the stamp names the host and the id the client was given."""
    scanner = FakeScanner()
    handler, relay, _ = make_handler(scanner)
    reply = await data(handler, MESSAGE.encode())
    message_id = reply.rsplit(" ", 1)[1]
    (sent,) = relay.sent
    (scanned,) = scanner.seen
    assert scanned.raw.startswith(b"Received: from exchange.test ([127.0.0.1])")
    stamp = stamp_of(sent, scanned.raw)
    expected = f"X-Safe-Address-Gateway: scanned by {HOST}; id={message_id}; "
    assert stamp.startswith(expected.encode())
    assert stamp.endswith(b" +0000\r\n")
    assert 1 == stamp.count(b"\r\n")
    assert CANARY.encode() not in stamp
    assert 1 == STAMP.hops(sent).stamps


@pytest.mark.asyncio
async def test_without_a_trace_header_the_stamp_is_on_top() -> None:
    """trace_header = false: the stamp is the first line of what is relayed."""
    handler, relay, _ = make_handler(FakeScanner(), trace=False)
    await data(handler, MESSAGE.encode())
    (sent,) = relay.sent
    assert sent.startswith(f"X-Safe-Address-Gateway: scanned by {HOST}; id=".encode())
    assert sent.endswith(b"\r\n" + MESSAGE.encode())


@pytest.mark.asyncio
@pytest.mark.parametrize("action", [Action.QUARANTINE, Action.REJECT, Action.TEMPFAIL])
async def test_mail_not_let_through_is_not_stamped(action: Action) -> None:
    """Held, rejected or deferred: nothing relayed, and the held copy carries no stamp
    (a release puts its own on)."""
    handler, relay, quarantine = make_handler(FakeScanner(action))
    await data(handler, MESSAGE.encode())
    assert [] == relay.sent
    assert all(STAMP.header.encode() not in held.raw for held in quarantine.held)


@pytest.mark.asyncio
async def test_already_stamped_mail_below_the_limit_is_scanned_and_stamped_again() -> None:
    """A stamp is never a pass: two stamps of ours, held if the scan says so; clean,
    relayed with a third."""
    scanner = FakeScanner(Action.QUARANTINE)
    handler, relay, quarantine = make_handler(scanner)
    await data(handler, stamped(2))
    assert 1 == len(scanner.seen)
    assert 1 == len(quarantine.held)
    assert [] == relay.sent
    scanner.action = Action.DELIVER
    await data(handler, stamped(2))
    assert 3 == STAMP.hops(relay.sent[0]).stamps


@pytest.mark.asyncio
async def test_a_message_at_the_stamp_limit_is_refused_unscanned_and_not_relayed() -> None:
    """max_stamps of ours: 554 5.4.6, the upstream transaction reset, nothing scanned,
    relayed or held; one fixed log line with the id and counts, no content."""
    scanner = FakeScanner()
    handler, relay, quarantine = make_handler(scanner)
    with capture_logs() as logs:
        reply = await data(handler, stamped(3))
    assert replies.ROUTING_LOOP == reply == "554 5.4.6 Routing loop detected"
    assert ([], [], [], 1) == (scanner.seen, relay.sent, quarantine.held, relay.resets)
    (line,) = [entry for entry in logs if entry["event"] == "routing loop refused"]
    assert (3, 0, "warning") == (line["stamps"], line["hops"], line["log_level"])
    assert line["message_id"]
    kept = redact(None, "warning", {k: v for k, v in line.items() if k != "log_level"})
    assert "[redacted]" not in kept.values()  # the counts reach the log
    assert CANARY not in repr(logs)
    assert 1 == handler.counters.actions["loop"]


@pytest.mark.asyncio
async def test_a_message_at_the_hop_count_limit_is_refused() -> None:
    """hop_count_limit Received headers (no stamp at all): 554 5.4.6 too; one fewer passes."""
    handler, relay, _ = make_handler(FakeScanner())
    received = b"Received: from a by b; Sat, 05 Dec 2026 14:00:00 +0000\r\n"
    assert replies.ROUTING_LOOP == await data(handler, received * 50 + MESSAGE.encode())
    assert [] == relay.sent
    assert (await data(handler, received * 49 + MESSAGE.encode())).startswith("250 ")
    assert 1 == len(relay.sent)


@pytest.mark.asyncio
async def test_without_a_stamp_setting_nothing_is_added_or_refused() -> None:
    """No ``Stamp`` given (as in older set-ups and tests): relayed as scanned."""
    scanner = FakeScanner()
    handler, relay, _ = make_handler(scanner, stamp=None)
    await data(handler, stamped(5))
    assert [scanner.seen[0].raw] == relay.sent


@settings(max_examples=40, deadline=None)
@given(
    mine=st.integers(min_value=0, max_value=6),
    others=st.integers(min_value=0, max_value=3),
    header_case=st.sampled_from(["lower", "upper", "as is"]),
)
def test_any_number_of_stamps_is_relayed_below_the_limit_and_refused_at_it(
    mine: int, others: int, header_case: str
) -> None:
    """Ours in any case, mixed with other gateways' stamps: refused exactly when ours
    reach max_stamps; otherwise scanned and relayed with one more of ours."""
    header = {"lower": STAMP.header.lower(), "upper": STAMP.header.upper()}.get(
        header_case, STAMP.header
    )
    theirs = stamped(others, host="gw.elsewhere.test")[: -len(MESSAGE)]
    content = theirs + stamped(mine, header=header)

    async def run() -> tuple[str, FakeRelay, FakeScanner]:
        scanner = FakeScanner()
        handler, relay, _ = make_handler(scanner)
        return await data(handler, content), relay, scanner

    reply, relay, scanner = asyncio.run(run())
    if mine >= STAMP.max_stamps:
        assert (replies.ROUTING_LOOP, [], []) == (reply, relay.sent, scanner.seen)
    else:
        assert reply.startswith("250 ")
        assert mine + 1 == STAMP.hops(relay.sent[0]).stamps
