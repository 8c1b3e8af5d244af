"""act (relay): one upstream SMTP session per client transaction, mirrored as it goes.

MAIL and each RCPT are sent upstream as the client sends them, so the client learns at
once which recipients the upstream refuses; the message itself is sent only after the
scan says deliver, or the transaction is reset when it is held.  Every network wait
has a timeout; any failure is an ``UpstreamError`` carrying a 4xx for the client.

When a client session ends, its upstream connection goes back to an ``UpstreamPool``
for the next client, unless a transaction or a command was cut off in it; a pooled
connection that has gone stale is replaced once, at MAIL, without the client noticing.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import aiosmtplib

from gateway.errors import GatewayError
from gateway.settings import Settings
from gateway.smtp import replies

DSN_MAIL = ("RET=", "ENVID=")
DSN_RCPT = ("NOTIFY=", "ORCPT=")


class UpstreamError(GatewayError):
    """The upstream could not take part: the client gets ``reply`` (a 4xx)."""

    def __init__(self, reply: str = replies.UPSTREAM_UNAVAILABLE) -> None:
        self.reply = reply
        super().__init__(reply)


@dataclass(frozen=True)
class UpstreamConfig:
    """Where and how to reach the upstream MTA."""

    host: str
    port: int
    timeout: float = 60.0
    tls: str = "none"  # none | starttls | starttls-noverify
    local_hostname: str = "gateway.localdomain"


def upstream_config(settings: Settings) -> UpstreamConfig:
    """The upstream as ``settings`` describe it."""
    return UpstreamConfig(
        *settings.upstream,
        timeout=settings.upstream_timeout,
        tls=settings.upstream_tls,
        local_hostname=settings.hostname,
    )


class UpstreamSession:
    """One connection to the upstream, reused across a client's transactions."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self._smtp: aiosmtplib.SMTP | None = None
        # A transaction the client abandoned without RSET (aiosmtpd's own 552 or 500
        # at DATA never reaches a hook) must be reset before the next MAIL.
        self._open = False
        self.reused = False  # taken from the pool: may have gone stale meanwhile
        self.tainted = False  # a command was cancelled half-way: never pool it

    @property
    def poolable(self) -> bool:
        """Connected, between transactions, and no command was cut off."""
        return self.connected and not self._open and not self.tainted

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        c = self.config
        tls_context = None
        if c.tls == "starttls-noverify":
            tls_context = ssl.create_default_context()
            tls_context.check_hostname = False
            tls_context.verify_mode = ssl.CERT_NONE
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            timeout=c.timeout,
            local_hostname=c.local_hostname,
            start_tls=c.tls != "none",
            tls_context=tls_context,
            use_tls=False,
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise UpstreamError() from exc
        self._smtp = smtp
        return smtp

    async def mail(self, sender: str, options: Sequence[str], utf8: bool) -> str:
        """Start a transaction upstream; the reply to give the client."""
        if self._open:
            await self.reset()
        wanted = [o for o in options if o.startswith(("SIZE=", "BODY=", *DSN_MAIL))]
        if utf8:
            wanted.append("SMTPUTF8")
        encoding = "utf-8" if utf8 else "ascii"
        try:
            smtp = await self._connection()
            reply = await self._exchange(smtp.mail(sender, options=wanted, encoding=encoding))
            stale = self.reused and reply.startswith("421")  # e.g. "421 timeout exceeded"
        except UpstreamError:
            if not self.reused:
                raise
            stale = True
        if stale:  # the pooled connection had gone stale: one fresh try
            self.reused = False
            self.abort()
            smtp = await self._connection()
            reply = await self._exchange(smtp.mail(sender, options=wanted, encoding=encoding))
        self.reused = False
        self._open = True
        return reply

    async def rcpt(self, recipient: str, options: Sequence[str], utf8: bool) -> str:
        """One recipient upstream; the reply to give the client."""
        smtp = await self._connection()
        wanted = [o for o in options if o.startswith(DSN_RCPT)]
        return await self._exchange(
            smtp.rcpt(recipient, options=wanted, encoding="utf-8" if utf8 else "ascii")
        )

    async def _exchange(self, command: Awaitable[aiosmtplib.SMTPResponse]) -> str:
        """One command's reply, as the client should get it; a broken link is a 4xx."""
        try:
            response = await command
        except asyncio.CancelledError:
            self.tainted = True
            raise
        except aiosmtplib.SMTPResponseException as exc:
            return replies.from_upstream(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()
            raise UpstreamError() from exc
        return replies.from_upstream(response.code, response.message)

    async def data(self, message: bytes) -> str:
        """Send the message; the upstream's reply to the final dot, passed on."""
        smtp = self._smtp
        if smtp is None or not smtp.is_connected:  # the transaction died with the connection
            raise UpstreamError()
        try:
            response = await smtp.data(message)
        except asyncio.CancelledError:
            self.tainted = True
            raise
        except aiosmtplib.SMTPResponseException as exc:  # 4xx or 5xx at the final dot
            await self.reset()
            return replies.from_upstream(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()  # dropped after the dot: unknown outcome, the client retries
            raise UpstreamError() from exc
        self._open = False
        return replies.from_upstream(response.code, response.message)

    async def reset(self) -> None:
        """Abandon the upstream transaction (the message is held, or the client reset)."""
        self._open = False
        if self._smtp is None or not self._smtp.is_connected:
            return
        try:
            await self._smtp.rset()
        except asyncio.CancelledError:
            self.tainted = True
            raise
        except (aiosmtplib.SMTPException, OSError):
            await self.close()

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        self._open = False
        if smtp is None or not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()

    def abort(self) -> None:
        """Drop the connection at once, without QUIT (for stale pooled connections)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


class UpstreamPool:
    """Idle upstream connections kept between client sessions: at most ``size``, each
    for at most ``max_idle`` seconds; ``size`` 0 keeps none."""

    def __init__(self, config: UpstreamConfig, size: int = 16, max_idle: float = 30.0) -> None:
        self.config = config
        self.size = size
        self.max_idle = max_idle
        self._idle: deque[tuple[float, UpstreamSession]] = deque()

    def __len__(self) -> int:
        return len(self._idle)

    def take(self) -> UpstreamSession:
        """The most recently used idle connection, or a new (not yet connected) one."""
        self.prune()
        while self._idle:
            _, session = self._idle.pop()
            if session.poolable:
                session.reused = True
                return session
            session.abort()
        return UpstreamSession(self.config)

    async def give(self, session: UpstreamSession) -> None:
        """A client session is over: keep its upstream connection, or close it."""
        if session.poolable and len(self._idle) < self.size:
            session.reused = False
            self._idle.append((time.monotonic(), session))
            return
        if session.tainted:
            session.abort()
        else:
            await session.close()

    def prune(self) -> None:
        """Drop the connections idle for longer than ``max_idle``."""
        limit = time.monotonic() - self.max_idle
        while self._idle and self._idle[0][0] < limit:
            self._idle.popleft()[1].abort()

    async def close(self) -> None:
        while self._idle:
            await self._idle.popleft()[1].close()
