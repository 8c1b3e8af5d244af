"""receive: the listening socket, who may connect, and how many at once.

aiosmtpd's ``SMTP`` with five changes: command lines end at CRLF only (no bare-LF
command smuggling); a greeting of 554 for clients outside the
trusted networks and 421 when too busy or shutting down; DSN parameters (RET, ENVID,
NOTIFY, ORCPT) accepted and handed to the hooks instead of refused with 555; the
upstream session closed when a client goes away without QUIT; and a VRFY that never
echoes its argument.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import Any

from aiosmtpd.smtp import SMTP, syntax

from gateway.smtp import replies
from gateway.smtp.handler import GatewayHandler

_DSN_PARAMS = frozenset({"RET", "ENVID", "NOTIFY", "ORCPT"})


class Gate:
    """Connection admission: trusted networks, a connection limit, draining."""

    def __init__(
        self, trusted: Sequence[str], max_connections: int, session_timeout: float = 3600.0
    ) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in trusted]
        self.max_connections = max_connections
        self.session_timeout = session_timeout
        self.active = 0
        self.draining = False

    def refusal(self, peer: Any) -> str | None:
        """The greeting for a client that may not go on, or None."""
        if self.draining:
            return replies.SHUTTING_DOWN
        host = peer[0] if isinstance(peer, tuple) else None
        try:
            address = ipaddress.ip_address(host) if host else None
        except ValueError:
            address = None
        if address is None or not any(address in net for net in self.networks):
            return replies.ACCESS_DENIED
        if self.active >= self.max_connections:
            return replies.TOO_BUSY
        return None


class _CrlfCommandReader(asyncio.StreamReader):
    """Command lines end at CRLF only: a bare LF inside a line no longer starts a second
    command (``MAIL FROM:<a@b>\nRCPT TO:<victim>`` is one malformed command)."""

    async def readuntil(self, separator: bytes = b"\n") -> bytes:  # type: ignore[override]
        return await super().readuntil(b"\r\n" if separator == b"\n" else separator)


class GatewaySMTP(SMTP):
    """One client connection."""

    # RFC 5321 caps lines at 1,000 bytes, but real mail (HTML from some clients) has
    # longer ones and Postfix takes them; refusing them would block ordinary mail.
    # Past this the line is refused (500); the limit also bounds each client's buffer.
    line_length_limit = 64 * 1024

    def __init__(self, handler: GatewayHandler, gate: Gate, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.gateway_handler = handler
        self.gate = gate
        self._counted = False

    def _cb_client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        reader.__class__ = _CrlfCommandReader  # aiosmtpd builds the reader itself
        super()._cb_client_connected(reader, writer)

    async def _handle_client(self) -> None:
        # aiosmtpd has no hook before its greeting; the refusal must be the greeting.
        assert self.session is not None
        refusal = self.gate.refusal(self.session.peer)
        if refusal is not None:
            await self.push(refusal)
            assert self.transport is not None
            self.transport.close()
            return
        self.gate.active += 1
        self._counted = True
        # The idle timeout alone lets a client that keeps talking stay for ever.
        expiry = asyncio.get_running_loop().call_later(self.gate.session_timeout, self._expire)
        try:
            await super()._handle_client()
        finally:
            expiry.cancel()

    def _expire(self) -> None:
        """Session over its total time: say so and hang up, whatever was going on."""
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(replies.SESSION_TOO_LONG.encode() + b"\r\n")
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self.gate.active -= 1
            self._counted = False
        relay = getattr(self.session, "upstream", None)
        if relay is not None:
            # The client went away, perhaps while an upstream command was in flight (the
            # handler is cancelled only after this): never pooled, only closed.
            self.session.upstream = None  # type: ignore[union-attr]
            relay.tainted = True
            relay.abort()
        super().connection_lost(error)

    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg: str) -> None:
        """Never confirms an address, and never echoes one back (aiosmtpd's "502 Could
        not VRFY <argument>" would quote whatever the client sent)."""
        if not arg:
            await self.push("501 Syntax: VRFY <address>")  # aiosmtpd's own reply
            return
        await self.push(replies.CANNOT_VRFY)

    def _getparams(self, params: Any) -> Any:
        # DSN parameters are passed upstream by the hooks, not refused with 555.
        parsed = super()._getparams(params)
        if parsed is None:
            return None
        return {k: v for k, v in parsed.items() if k not in _DSN_PARAMS}
