"""receive -> Envelope: who sent a message, to whom, and its raw bytes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope of one message and the message bytes as received."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    peer: str = ""
    #: True when the recipients came from the envelope (SMTP RCPT or --rcpt);
    #: False when ``gateway scan`` took them from the To, Cc and Bcc headers.
    explicit_rcpts: bool = True
