"""review: committed audit records -> RFC 5424 syslog messages for a SIEM.

Each message's MSG is one JSON object ``{seq, at, actor, action, target, has_reason}``:
never the reason, which is sealed in the store because reviewers may type protected
details into it.  Sending is best effort and off the decision's path: a datagram
(``udp://host:port``, ``unix:/dev/log``) is sent without waiting; over TCP
(``tcp://host:port``, octet-counted framing, RFC 6587) the messages queue for a writer
task.  A failure is logged (without values) and never reaches the decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from gateway.errors import ConfigError
from gateway.store.model import AuditEvent

log = structlog.get_logger(__name__)

APP_NAME = "safe-address-gateway"
MSGID = "audit"
# Facility 13 ("log audit", RFC 5424 table 1), severity 5 (notice).
PRI = 13 * 8 + 5
QUEUE_LIMIT = 10_000  # TCP messages waiting; past it new ones are dropped (and counted)
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class SyslogTarget:
    """Where the messages go: ``udp``/``tcp`` with host and port, or ``unix`` with a path."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""


def parse_target(text: str) -> SyslogTarget:
    """``udp://host:port``, ``tcp://host:port`` or ``unix:/path``; ``ConfigError`` if not."""
    what = f"audit_syslog: expected udp://host:port, tcp://host:port or unix:/path, got {text!r}"
    if text.startswith("unix:"):
        path = text.removeprefix("unix:")
        if not path.startswith("/"):
            raise ConfigError(what)
        return SyslogTarget("unix", path=path)
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(what) from exc
    if parts.scheme not in ("udp", "tcp") or not parts.hostname or port is None:
        raise ConfigError(what)
    return SyslogTarget(parts.scheme, parts.hostname, port)


def check_setting(value: object) -> str:
    """The setting's text, checked ("" is off)."""
    text = str(value).strip()
    if text:
        parse_target(text)
    return text


def format_message(event: AuditEvent, hostname: str, pid: int) -> bytes:
    """One RFC 5424 message: header, no structured data, the JSON object as MSG."""
    body = json.dumps(
        {
            "seq": event.seq,
            "at": event.at,
            "actor": event.actor,
            "action": event.action,
            "target": event.target,
            "has_reason": event.has_reason,
        },
        separators=(",", ":"),
    )
    host = _header_field(hostname)
    return f"<{PRI}>1 {event.at} {host} {APP_NAME} {pid} {MSGID} - {body}".encode()


def _header_field(text: str) -> str:
    """A header field: printable US-ASCII without spaces, at most 255 characters."""
    kept = "".join(c for c in text if "!" <= c <= "~")[:255]
    return kept or "-"


class SyslogSink:
    """Sends each audit event it is given; ``close`` when the gateway stops."""

    def __init__(self, target: SyslogTarget, hostname: str) -> None:
        self.target = target
        self.hostname = hostname
        self.dropped = 0
        self._socket: socket.socket | None = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        self._writer: asyncio.Task[None] | None = None

    def __call__(self, event: AuditEvent) -> None:
        data = format_message(event, self.hostname, os.getpid())
        if self.target.scheme == "tcp":
            self._enqueue(data)
            return
        try:
            self._datagram().send(data)
        except OSError as exc:
            self._failed(exc)

    def _datagram(self) -> socket.socket:
        if self._socket is None:
            family = socket.AF_UNIX if self.target.scheme == "unix" else _family(self.target)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect(
                    self.target.path
                    if self.target.scheme == "unix"
                    else (self.target.host, self.target.port)
                )
            except OSError:
                sock.close()
                raise
            self._socket = sock
        return self._socket

    def _enqueue(self, data: bytes) -> None:
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("audit syslog queue full: messages dropped", dropped=self.dropped)
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_all())

    async def _write_all(self) -> None:
        """Write the queue over one TCP connection, opened again after a failure."""
        writer: asyncio.StreamWriter | None = None
        try:
            while True:
                data = await self._queue.get()
                try:
                    writer = writer or await self._connect()
                    writer.write(f"{len(data)} ".encode() + data)
                    await asyncio.wait_for(writer.drain(), CONNECT_TIMEOUT)
                except (OSError, TimeoutError) as exc:
                    self._failed(exc)
                    if writer is not None:
                        writer.close()
                    writer = None
        finally:
            if writer is not None:
                writer.close()

    async def _connect(self) -> asyncio.StreamWriter:
        connecting = asyncio.open_connection(self.target.host, self.target.port)
        _, writer = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
        return writer

    def _failed(self, exc: BaseException) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        log.warning("audit record not sent to syslog", error=type(exc).__name__)

    async def close(self) -> None:
        """Stop the TCP writer (what is still queued is dropped) and close the socket."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _family(target: SyslogTarget) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in target.host else socket.AF_INET
