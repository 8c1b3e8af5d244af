"""receive: aiosmtpd hooks -> Envelope -> scan -> relay or hold, answering only when safe.

What is scanned is what is relayed or held, byte for byte: the DATA with its line
endings made canonical (``gateway.parse.canonical_line_endings``, the relay's own rule)
and this gateway's ``Received:`` line on top, so the client's EHLO name is read too.
The one thing added after the scan is the gateway's stamp (``gateway.stamp``), below
the ``Received:`` line of a relayed message: a fixed line that attests the verdict.

A message that has been round this gateway ``max_stamps`` times, or carries
``hop_count_limit`` Received headers, is refused before the scan (``554 5.4.6``):
sending it round once more would not end the loop.

The reply to DATA is given only after the upstream accepted the message (its reply
passed on), or the message is committed to the quarantine store, or the policy chose
a refusal.  Anything else is a 4xx, with a fixed text: no exception text, nothing
about what matched.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from gateway.envelope import Envelope
from gateway.parse import canonical_line_endings
from gateway.relay import UpstreamError, UpstreamPool, UpstreamSession
from gateway.scan import ScanResult
from gateway.smtp import replies
from gateway.stamp import Stamp, loop_refused
from gateway.store import HeldMessage, StoreError, new_message_id
from gateway.verdict import Action

log = structlog.get_logger("gateway.smtp")

Scanner = Callable[[Envelope], Awaitable[ScanResult]]
Holder = Callable[[HeldMessage], Awaitable[str]]
RelayObserver = Callable[[float, bool], None]  # seconds taken, accepted by the upstream


@dataclass
class Counters:
    """What the handler has done, for metrics and tests."""

    actions: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1


class GatewayHandler:
    """The hooks aiosmtpd calls for each command of each client."""

    def __init__(
        self,
        upstream: UpstreamPool,
        scanner: Scanner,
        holder: Holder,
        hostname: str,
        max_recipients: int,
        trace_header: bool,
        on_relay: RelayObserver = lambda seconds, ok: None,
        stamp: Stamp | None = None,  # None: no stamp, no loop check
    ) -> None:
        self.upstream = upstream
        self.scanner = scanner
        self.holder = holder
        self.hostname = hostname
        self.max_recipients = max_recipients
        self.trace_header = trace_header
        self.on_relay = on_relay
        self.stamp = stamp
        self.counters = Counters()

    def _session(self, session: Session) -> UpstreamSession:
        relay = getattr(session, "upstream", None)
        if relay is None:
            relay = self.upstream.take()
            session.upstream = relay  # type: ignore[attr-defined]
        return relay

    async def release(self, session: Session | None) -> None:
        """The client said QUIT, so no upstream command is in flight: its upstream
        connection goes back to the pool (a dropped client's is closed instead)."""
        relay = getattr(session, "upstream", None)
        if relay is not None:
            session.upstream = None  # type: ignore[union-attr]
            await self.upstream.give(relay)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-DSN", responses[-1]] if responses else responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if _has_control(address):
            return replies.BAD_SENDER_SYNTAX
        # The null sender (bounces, receipts, out-of-office replies) is relayed too.
        sender = _sender(address)
        if not (envelope.smtp_utf8 or sender.isascii()):
            return replies.NEEDS_SMTPUTF8
        if not all(option.isascii() for option in mail_options):
            return replies.BAD_PARAMETERS
        try:
            reply = await self._session(session).mail(sender, mail_options, envelope.smtp_utf8)
        except UpstreamError as exc:
            return exc.reply
        if reply.startswith("2"):
            envelope.mail_from = address  # aiosmtpd's "MAIL given" flag: "<>" is truthy
            envelope.mail_options.extend(mail_options)
        return reply

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if _has_control(address) or address == "<>":  # no null recipient (RFC 5321)
            return replies.BAD_RECIPIENT_SYNTAX
        if not (envelope.smtp_utf8 or address.isascii()):
            return replies.NEEDS_SMTPUTF8
        if not all(option.isascii() for option in rcpt_options):  # xtext is ASCII (RFC 3461)
            return replies.BAD_PARAMETERS
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        try:
            reply = await self._session(session).rcpt(address, rcpt_options, envelope.smtp_utf8)
        except UpstreamError as exc:
            return exc.reply
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply

    async def handle_exception(self, error: Exception) -> str:
        """Any failure aiosmtpd did not turn into a reply itself: a fixed reply, and a
        log line with the exception's class only (its text and traceback may quote
        the client's command, addresses included)."""
        log.error("smtp command failed", error=error.__class__.__name__)
        return replies.INTERNAL_ERROR

    async def handle_RSET(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        await self._session(session).reset()
        return "250 2.0.0 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        await self.release(session)
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        self.counters.in_flight += 1
        relay = self._session(session)
        try:
            return await self._deliver_or_hold(session, envelope, relay)
        except asyncio.CancelledError:
            raise
        except UpstreamError as exc:
            return exc.reply
        except Exception as exc:  # any failure: a fixed 4xx, nothing lost
            log.error("internal error", error=exc.__class__.__name__)
            await relay.reset()
            return replies.INTERNAL_ERROR
        finally:
            self.counters.in_flight -= 1

    async def _deliver_or_hold(
        self, session: Session, envelope: SmtpEnvelope, relay: UpstreamSession
    ) -> str:
        # One reading: the line endings the relay would rewrite are rewritten now, the
        # trace header goes on before the scan, and those bytes are scanned, relayed
        # and held, so nothing reaches the upstream that the scan did not read (but
        # the stamp, our own fixed line, which says the scan let it through).
        message_id = new_message_id()
        content = canonical_line_endings(envelope.original_content or b"")
        if loop_refused(self.stamp, content, message_id=message_id):
            self.counters.count("loop")
            await relay.reset()
            return replies.ROUTING_LOOP
        trace = self._trace(session, message_id)
        raw = trace + content
        ours = Envelope(
            _sender(envelope.mail_from), tuple(envelope.rcpt_tos), raw, peer=str(session.peer)
        )
        started = time.perf_counter()
        result = await self.scanner(ours)
        action = result.verdict.action
        log.info(
            "scanned",
            message_id=message_id,
            action=action.value,
            rules=result.verdict.rules,
            elapsed_ms=round(result.elapsed_ms, 2),
            version=result.register_version,
        )
        self.counters.count(action.value)
        if action is Action.DELIVER:
            stamp = b"" if self.stamp is None else self.stamp.line("scanned", message_id)
            return await self._relay(relay, trace + stamp + content, message_id)
        await relay.reset()
        if action is Action.REJECT:
            return replies.REJECTED
        if action is Action.TEMPFAIL:
            return replies.TEMPFAIL
        return await self._hold(ours, result, message_id, started)

    async def _hold(
        self, ours: Envelope, result: ScanResult, message_id: str, started: float
    ) -> str:
        held = held_message(ours, result, message_id)
        try:
            await self.holder(held)
        except StoreError:
            log.error("quarantine write failed", message_id=message_id)
            return replies.STORAGE_FAILED
        log.info(
            "held",
            message_id=message_id,
            severity=held.severity,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return replies.queued(message_id)

    async def _relay(self, relay: UpstreamSession, message: bytes, message_id: str) -> str:
        """Send upstream, telling the observer how long it took and whether it went.

        An accepted message is answered with the gateway's own id, exactly as a held
        one is: a sender who could tell the two replies apart could probe which
        details the gateway holds.  The upstream's queue id goes to the log, beside
        ours, so an admin can follow the message on."""
        started = time.perf_counter()
        try:
            reply = await relay.data(message)
        except UpstreamError:
            self.on_relay(time.perf_counter() - started, False)
            raise
        accepted = reply.startswith("2")
        self.on_relay(time.perf_counter() - started, accepted)
        if not accepted:
            return reply
        upstream = _UPSTREAM_ID.search(reply)
        log.info("relayed", message_id=message_id, upstream_id=upstream[1] if upstream else None)
        return replies.queued(message_id)

    def _trace(self, session: Session, message_id: str) -> bytes:
        """This gateway's ``Received:`` line (b"" when ``trace_header`` is off)."""
        if not self.trace_header:
            return b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        helo = (session.host_name or "unknown").replace("\r", "").replace("\n", "")
        stamp = format_datetime(datetime.now(UTC))
        header = (
            f"Received: from {helo} ([{peer}])\r\n\tby {self.hostname} "
            f"(Safe-Address Gateway) with ESMTP id {message_id};\r\n\t{stamp}\r\n"
        )
        return header.encode("ascii", "replace")


# The queue id in an upstream's 250 reply: Postfix "queued as 4Xy...", Exim "OK id=...".
_UPSTREAM_ID = re.compile(r"(?:queued as|id=)\s*<?([\w.@-]{1,64})", re.IGNORECASE)


def _sender(address: str | None) -> str:
    """The envelope sender; "" for the null sender, which aiosmtpd gives as ``<>``."""
    return "" if address is None or address == "<>" else address


def _has_control(address: str) -> bool:
    """A CR, LF, NUL or other control character: aiosmtpd passes them in addresses."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in address)


def held_message(
    ours: Envelope, result: ScanResult, message_id: str, mta_queue_id: str = ""
) -> HeldMessage:
    """What the quarantine keeps of a message held by the scan (SMTP or milter)."""
    return HeldMessage(
        id=message_id,
        received_at=datetime.now(UTC),
        mail_from=ours.mail_from,
        rcpt_tos=ours.rcpt_tos,
        raw=ours.raw,
        action=result.verdict.action.value,
        severity=result.verdict.severity.value,
        rules=tuple(result.verdict.rules),
        findings=[f.to_json() for f in result.match.findings],
        evidence=[_evidence(e) for e in result.match.evidence],
        status="held",
        mta_queue_id=mta_queue_id,
        subject=result.subject,
    )


def _evidence(item: Any) -> dict[str, Any]:
    return {
        "finding": item.finding_index,
        "location": item.location,
        "start": item.start,
        "end": item.end,
        "text": item.text,
    }
