"""raw bytes -> MIME tree (``EmailMessage``) with defects recorded, never raised.

The stdlib parser already records defects instead of raising; this module adds the
two things it does not do: normalise old Mac (CR-only) line endings, and turn any
unexpected exception into a recorded defect so the caller always gets a message.
"""

from __future__ import annotations

import email.errors
import email.policy
from email.message import EmailMessage
from email.parser import BytesParser

#: the policy every stage uses; ``raise_on_defect`` stays off so defects are recorded
POLICY = email.policy.default.clone(raise_on_defect=False)


class UnparseableMessageDefect(email.errors.MessageDefect):
    """The parser failed outright; the message carries no usable structure."""


def normalise_newlines(raw: bytes) -> bytes:
    """Turn CR-only line endings into LF; LF and CRLF input is returned unchanged."""
    if b"\r" in raw and b"\n" not in raw:
        return raw.replace(b"\r", b"\n")
    return raw


def parse_message(raw: bytes) -> EmailMessage:
    """Parse ``raw`` into an ``EmailMessage``; failures become a recorded defect."""
    try:
        message = BytesParser(EmailMessage, policy=POLICY).parsebytes(normalise_newlines(raw))
    except Exception:
        message = EmailMessage(policy=POLICY)
        message.defects.append(UnparseableMessageDefect())
    return message


def is_unparseable(message: EmailMessage) -> bool:
    """Whether :func:`parse_message` gave up on the message as a whole."""
    return any(isinstance(d, UnparseableMessageDefect) for d in message.defects)
