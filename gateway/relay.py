"""act (relay): one upstream SMTP session per client transaction, mirrored as it goes.

MAIL and each RCPT are sent upstream as the client sends them, so the client learns at
once which recipients the upstream refuses; the message itself is sent only after the
scan says deliver, or the transaction is reset when it is held.  Every network wait
has a timeout; any failure is an ``UpstreamError`` carrying a 4xx for the client.
"""

from __future__ import annotations

import ssl
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
        smtp = await self._connection()
        wanted = [o for o in options if o.startswith(("SIZE=", "BODY=", *DSN_MAIL))]
        if utf8:
            wanted.append("SMTPUTF8")
        reply = await self._exchange(
            smtp.mail(sender, options=wanted, encoding="utf-8" if utf8 else "ascii")
        )
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
