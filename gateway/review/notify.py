"""review -> email: notices to the review team and to senders, through the upstream.

No notice carries anything from the message but its id, time, severity and recipient
count: not the subject, not an address of a recipient, never a matched value.  Notices
go to the review team and to the sender, never to the recipients.  Sending is best
effort: a failure is logged and never affects the message itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import structlog

from gateway.review.deliver import Deliverer, DeliveryError
from gateway.store import HeldMessage

log = structlog.get_logger("gateway.notify")


@dataclass(frozen=True)
class NotifySettings:
    """Who gets which notice; an empty ``review_team`` sends no team notices."""

    sender: str = "gateway@localhost"  # the From of every notice
    review_team: tuple[str, ...] = ()
    console_url: str = ""  # links in team notices, e.g. https://gateway.example:8443
    sender_on_hold: bool = False


class Notifier:
    """Builds and sends the notices; every method is safe to call and never raises."""

    def __init__(self, settings: NotifySettings, deliver: Deliverer) -> None:
        self.settings = settings
        self.deliver = deliver

    async def held(self, message: HeldMessage, waiting: int = 1) -> None:
        """A message was held (``waiting`` now wait for review): tell the review team,
        and the sender if configured."""
        link = self._link(message.id)
        await self._send(
            self.settings.review_team,
            f"[gateway] message held, severity {message.severity} ({waiting} waiting)",
            f"A message was held for review.\n\nId: {message.id}\n"
            f"Severity: {message.severity}\nRules: {', '.join(message.rules) or '-'}\n"
            f"Received: {_when(message.received_at)}\n"
            f"Messages waiting for review: {waiting}\n{link}",
        )
        if self.settings.sender_on_hold and message.mail_from:
            await self._send(
                (message.mail_from,),
                "Your message is held for a safety check",
                "A message you sent is being checked before delivery, because it may "
                "contain details that must be protected. A reviewer will release or "
                "return it; you do not need to do anything.\n\n"
                f"Reference: {message.id}\nSent: {_when(message.received_at)}\n"
                f"Recipients: {len(message.rcpt_tos)}\n",
            )

    async def rejected(self, message: HeldMessage, note: str = "") -> None:
        """Tell the sender their message will not be delivered, with the note the
        reviewer wrote for them (not the audit reason, which may quote the message)."""
        if message.mail_from:
            said = f"Note from the reviewer: {note}\n" if note else ""
            await self._send(
                (message.mail_from,),
                "Your message was not delivered",
                "A message you sent was stopped after a safety check and will not be "
                f"delivered.\n\nReference: {message.id}\nSent: {_when(message.received_at)}\n"
                + said,
            )

    async def digest(self, counts: Mapping[str, int], oldest: dt.datetime | None) -> None:
        """The daily digest for the review team: counts by status, the oldest wait."""
        lines = [f"{status}: {count}" for status, count in counts.items()]
        wait = f"Oldest waiting since: {_when(oldest)}\n" if oldest else ""
        await self._send(
            self.settings.review_team,
            f"[gateway] daily digest: {counts.get('held', 0)} held",
            "Messages in the quarantine:\n" + "\n".join(lines) + f"\n{wait}{self._link('')}",
        )

    def _link(self, message_id: str) -> str:
        base = self.settings.console_url.rstrip("/")
        if not base:
            return ""
        return f"Review: {base}/messages/{message_id}\n" if message_id else f"Review: {base}/\n"

    async def _send(self, to: Sequence[str], subject: str, body: str) -> None:
        if not to:
            return
        notice = EmailMessage()
        notice["From"] = self.settings.sender
        notice["To"] = ", ".join(to)
        notice["Subject"] = subject
        notice["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        notice["Message-ID"] = make_msgid(domain="safe-address-gateway")
        notice["Auto-Submitted"] = "auto-generated"
        notice.set_content(body)
        try:
            await self.deliver(self.settings.sender, list(to), bytes(notice))
        except DeliveryError as exc:
            log.warning("notice not sent", subject=subject.split(":")[0], error=str(exc))


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
