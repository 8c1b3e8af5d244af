"""receive (milter): MTA connections -> Envelope -> scan -> accept, discard, reject or tempfail.

One ``MilterServer`` serves many MTA connections at once (a Unix or TCP socket), each
a ``_Session`` that feeds the bytes it reads to the sans-I/O ``protocol.Decoder`` and
answers the commands it yields.  The session collects the macros that matter (``i``
queue id, ``{auth_authen}``, ``{client_addr}``, ``{mail_addr}``, ``{rcpt_addr}``), the
envelope (the recipients as the MTA gives them at RCPT: those are scanned), and the
headers and body chunks rebuilt into the message bytes (CRLF).  At end of message it
scans them with the same scanner and quarantine as the SMTP proxy, and answers:

- deliver -> the gateway's stamp header (``gateway.stamp``) inserted on top, and accept;
- hold -> the message is committed to the quarantine first (with the MTA's queue id),
  then the MTA is told to discard it (a release re-injects it through the upstream);
- reject -> a 5xx reply; tempfail -> a 4xx reply (the policy's texts);
- any failure, time-out or overload -> 4xx, so the MTA keeps the message;
- a message that has been round this gateway ``max_stamps`` times (or carries
  ``hop_count_limit`` Received headers) -> ``554 5.4.6``, before the scan.

A malformed or truncated stream closes that connection only, with a fixed log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from gateway.envelope import Envelope
from gateway.milter import protocol
from gateway.scan import ScanResult
from gateway.smtp import replies
from gateway.smtp.handler import Counters, Holder, held_message
from gateway.stamp import Stamp, loop_refused
from gateway.store import StoreError, new_message_id
from gateway.verdict import Action

log = structlog.get_logger("gateway.milter")

Scanner = Callable[[Envelope], Awaitable[ScanResult]]
READ_BYTES = 65536
MACROS = ("i", "{auth_authen}", "{client_addr}", "{mail_addr}", "{rcpt_addr}")


@dataclass(frozen=True)
class MilterLimits:
    """Bounds on one connection: idle wait, whole scan-and-hold, message size, count."""

    idle_timeout: float = 300.0
    verdict_timeout: float = 60.0  # scan and quarantine write, all told
    max_message_bytes: int = 50 * 1024 * 1024
    max_connections: int = 100


@dataclass
class _Message:
    """One transaction, from MAIL to end of message (or abort): the envelope, and the
    message rebuilt from its header and body events (CRLF line endings)."""

    mail_from: str = ""
    rcpt_tos: list[str] = field(default_factory=list)
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    too_big: bool = False
    in_body: bool = False

    @property
    def raw(self) -> bytes:
        return b"".join(self.parts)

    def header(self, name: str, value: str, leading_space: bool, limit: int) -> None:
        """A header line as received: its folds kept, made CRLF."""
        text = f"{name}:{value}" if leading_space else f"{name}: {value}"
        line = text.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"
        self._add(line.encode("utf-8", "surrogateescape"), limit)

    def end_headers(self, limit: int) -> None:
        """The empty line after the headers (once, whether or not the MTA says so)."""
        if not self.in_body:
            self.in_body = True
            self._add(b"\r\n", limit)

    def body(self, chunk: bytes, limit: int) -> None:
        self.end_headers(limit)
        self._add(chunk, limit)

    def _add(self, data: bytes, limit: int) -> None:
        self.size += len(data)
        if self.size > limit:
            self.too_big = True
            self.parts.clear()
        elif not self.too_big:
            self.parts.append(data)


class _Close(Exception):
    """The connection ends here (QUIT, or a stream we cannot read)."""


class MilterServer:
    """Answers MTAs' milter connections with the gateway's scan and quarantine."""

    def __init__(
        self,
        scanner: Scanner,
        holder: Holder,
        limits: MilterLimits,
        stamp: Stamp | None = None,  # None: no stamp, no loop check
    ) -> None:
        self.scanner = scanner
        self.holder = holder
        self.limits = limits
        self.stamp = stamp
        self.counters = Counters()
        self.active = 0
        self.draining = False

    async def serve(self, sock: socket.socket) -> asyncio.Server:
        """Start serving on a bound socket (Unix or TCP)."""
        if sock.family == socket.AF_UNIX:
            return await asyncio.start_unix_server(self.handle, sock=sock)
        return await asyncio.start_server(self.handle, sock=sock)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One MTA connection, until it quits, goes quiet too long, or sends garbage."""
        self.active += 1
        session = _Session(self)
        try:
            await session.run(reader, writer)
        except (ConnectionError, TimeoutError, _Close):
            pass
        finally:
            self.active -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    @property
    def overloaded(self) -> bool:
        return self.draining or self.active > self.limits.max_connections


class _Session:
    """The state of one MTA connection: what was agreed, its macros and the message
    under way."""

    def __init__(self, server: MilterServer) -> None:
        self.server = server
        self.busy = server.overloaded  # over the limit when it came: 4xx for its mail
        self.agreed: protocol.Negotiation | None = None
        self.macros: dict[str, str] = {}
        self.peer = ""
        self.message = _Message()

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = protocol.Decoder()
        while True:
            async with asyncio.timeout(self.server.limits.idle_timeout):
                data = await reader.read(READ_BYTES)
            quick_ack(writer)
            if not data:
                if decoder.pending:
                    log.warning("milter stream truncated, connection closed")
                return
            try:
                commands = decoder.feed(data)
            except protocol.ProtocolError as exc:
                log.warning("milter stream malformed, connection closed", reason=exc.reason)
                return
            for command in commands:
                reply = await self.answer(command)
                if reply and (self.agreed is None or self.agreed.needs_reply(command)):
                    writer.write(reply)
                    await writer.drain()

    async def answer(self, command: protocol.Command) -> bytes:
        """The reply to one command (b"" for those that never get one)."""
        match command:
            case protocol.OptNeg():
                return self._negotiate(command)
            case protocol.Macro(macros=macros):
                self.macros.update({k: v for k, v in macros.items() if k in MACROS})
                return b""
            case protocol.Connect(address=address):
                self.peer = address
            case protocol.MailFrom(args=args):
                self.message = _Message(mail_from=_address(args))
            case protocol.RcptTo(args=args):
                self.message.rcpt_tos.append(_address(args))
            case protocol.Header(name=name, value=value):
                self.message.header(name, value, self._leading_space, self._limit)
            case protocol.EndOfHeaders():
                self.message.end_headers(self._limit)
            case protocol.Body(chunk=chunk):
                self.message.body(chunk, self._limit)
            case protocol.EndOfMessage(chunk=chunk):
                self.message.body(chunk, self._limit)
                message, self.message = self.message, _Message()
                return await self.verdict(message)
            case protocol.Abort():
                self.message = _Message()
                return b""
            case protocol.Quit():
                raise _Close
            case protocol.QuitNewConnection():
                self.macros, self.peer, self.message = {}, "", _Message()
                return b""
        return protocol.continue_()  # also HELO, DATA, an unknown SMTP command

    def _negotiate(self, offer: protocol.OptNeg) -> bytes:
        self.agreed = protocol.negotiate(offer)
        if self.server.stamp is not None and not self.agreed.actions & protocol.SMFIF_ADDHDRS:
            log.warning("milter cannot add the stamp header", reason="no SMFIF_ADDHDRS")
        return self.agreed.reply

    @property
    def _limit(self) -> int:
        return self.server.limits.max_message_bytes

    @property
    def _leading_space(self) -> bool:
        return self.agreed is not None and self.agreed.leading_space

    async def verdict(self, message: _Message) -> bytes:
        """Scan, hold if need be, and the MTA's answer; a 4xx for any failure."""
        server = self.server
        if message.too_big:
            return _reply(replies.MESSAGE_TOO_BIG)
        if self.busy or server.draining:
            return _reply(replies.INTERNAL_ERROR)
        server.counters.in_flight += 1
        try:
            async with asyncio.timeout(server.limits.verdict_timeout):
                return await self._verdict(message)
        except TimeoutError:
            log.error("milter verdict over time", reason="timeout")
            return _reply(replies.INTERNAL_ERROR)
        except StoreError:
            log.error("quarantine write failed")
            return _reply(replies.STORAGE_FAILED)
        except Exception as exc:  # any failure: the MTA keeps the message
            log.error("internal error", error=exc.__class__.__name__)
            return _reply(replies.INTERNAL_ERROR)
        finally:
            server.counters.in_flight -= 1

    async def _verdict(self, message: _Message) -> bytes:
        message_id = new_message_id()
        queue_id = self.macros.get("i", "")
        if loop_refused(self.server.stamp, message.raw, message_id=message_id, queue_id=queue_id):
            self.server.counters.count("loop")
            return _reply(replies.ROUTING_LOOP)
        ours = Envelope(message.mail_from, tuple(message.rcpt_tos), message.raw, peer=self.peer)
        started = time.perf_counter()
        result = await self.server.scanner(ours)
        action = result.verdict.action
        log.info(
            "scanned",
            message_id=message_id,
            queue_id=queue_id,
            action=action.value,
            rules=result.verdict.rules,
            elapsed_ms=round(result.elapsed_ms, 2),
            version=result.register_version,
        )
        self.server.counters.count(action.value)
        if action is Action.DELIVER:
            return self._stamped(message_id) + protocol.accept()
        if action is Action.REJECT:
            return _reply(replies.REJECTED)
        if action is Action.TEMPFAIL:
            return _reply(replies.TEMPFAIL)
        await self.server.holder(held_message(ours, result, message_id, queue_id))
        log.info(
            "held",
            message_id=message_id,
            queue_id=queue_id,
            severity=result.verdict.severity.value,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return protocol.discard()

    def _stamped(self, message_id: str) -> bytes:
        """The stamp header's modification packet (b"" if none is to be or can be added)."""
        stamp = self.server.stamp
        if stamp is None or self.agreed is None:
            return b""
        return self.agreed.header_on_top(stamp.header, stamp.value("scanned", message_id))


def quick_ack(writer: asyncio.StreamWriter) -> None:
    """Acknowledge what was read at once.  Postfix writes its milter packets without
    TCP_NODELAY, and with the SMFIP_NR_* events nothing is written back until the end of
    the message: Nagle on its side then waits for our ACK, which Linux delays up to 40 ms
    a packet.  TCP_QUICKACK lasts until the next read, so it is set after every read."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _address(args: list[str]) -> str:
    """``<a@b>`` (the first argument of MAIL or RCPT) -> ``a@b``; "" for the null sender."""
    return args[0].strip().removeprefix("<").removesuffix(">") if args else ""


def _reply(text: str) -> bytes:
    """An SMTP reply from ``gateway.smtp.replies`` as a milter reply code."""
    code, _, rest = text.partition(" ")
    return protocol.reply_code(int(code), rest)
