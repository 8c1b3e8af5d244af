"""review -> upstream: released messages and notifications, sent with the relay's session.

All or nothing: if the upstream refuses the sender, any recipient or the message, the
transaction is reset and ``DeliveryError`` raised: a temporary refusal (4xx, or no
answer) leaves a release pending, to be tried again as a whole; a permanent one (5xx)
is marked so, since trying again would not help.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.errors import GatewayError
from gateway.relay import UpstreamConfig, UpstreamError, UpstreamSession


class DeliveryError(GatewayError):
    """The upstream did not take the message; nothing was delivered.  ``permanent``:
    it said no for good (5xx)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Deliverer(Protocol):
    """Sends one message upstream, or raises ``DeliveryError``."""

    async def __call__(self, mail_from: str, rcpt_tos: Sequence[str], message: bytes) -> None: ...


class SmtpDeliverer:
    """A ``Deliverer`` that opens one upstream session per message."""

    def __init__(self, upstream: UpstreamConfig) -> None:
        self.upstream = upstream

    async def __call__(self, mail_from: str, rcpt_tos: Sequence[str], message: bytes) -> None:
        utf8 = not (mail_from + "".join(rcpt_tos)).isascii()
        session = UpstreamSession(self.upstream)
        try:
            _accepted(await session.mail(mail_from, [], utf8), "sender")
            for rcpt in rcpt_tos:
                _accepted(await session.rcpt(rcpt, [], utf8), "recipient")
            _accepted(await session.data(message), "message")
        except UpstreamError as exc:
            raise DeliveryError("the upstream could not be reached") from exc
        finally:
            await session.close()


def _accepted(reply: str, what: str) -> None:
    if not reply.startswith("2"):
        raise DeliveryError(f"the upstream refused the {what} ({reply[:3]})", reply[:1] == "5")
