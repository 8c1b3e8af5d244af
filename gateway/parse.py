"""raw bytes -> MIME tree (``EmailMessage``) with defects recorded, never raised.

The stdlib parser already records defects instead of raising; this module adds the
two things it does not do: normalise old Mac (CR-only) line endings, and turn any
unexpected exception into a recorded defect so the caller always gets a message.
"""

from __future__ import annotations

import email.errors
import email.policy
import re
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import compat32

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
        raw = normalise_newlines(raw)
        message = _single_part(raw) or BytesParser(EmailMessage, policy=POLICY).parsebytes(raw)
    except Exception:
        message = EmailMessage(policy=POLICY)
        message.defects.append(UnparseableMessageDefect())
    return message


_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# A Content-Type that plainly says text/*: no comment, quote or encoded word to parse.
_PLAIN_TEXT_TYPE = re.compile(r"\s*text/[a-z0-9.+-]+\s*(?:;[^()\"]*)?", re.IGNORECASE)


def header_block(raw: bytes) -> bytes:
    """The header lines and the blank line after them (all of ``raw`` if none)."""
    split = _BLANK_LINE.search(raw)
    return raw if split is None else raw[: split.end()]


def _single_part(raw: bytes) -> EmailMessage | None:
    """Fast path for the common plain message: only the header block goes through the
    line-by-line parser; the body is attached as the full parser would (ASCII with
    surrogate escapes).  None for anything with MIME structure."""
    split = _BLANK_LINE.search(raw)
    if split is None:
        return None
    # compat32 stores header lines exactly as the default policy does, but does not
    # parse Content-Type through the header registry when the parser asks for it.
    parser = BytesParser(EmailMessage, policy=compat32)
    message = parser.parsebytes(raw[: split.end()], headersonly=True)
    assert isinstance(message, EmailMessage)  # the class given, whatever the policy
    message.policy = POLICY
    if message.defects or not _is_text(message):
        return None
    message.set_payload(raw[split.end() :].decode("ascii", "surrogateescape"))
    return message


def _is_text(message: EmailMessage) -> bool:
    """Whether the single-part message is text/*, without the header registry's full
    parse where the raw value is plain (the full parse costs more than the rest of the
    fast path); anything unusual goes through the full parse."""
    types = [value for name, value in message.raw_items() if name.lower() == "content-type"]
    if not types:
        return True  # RFC 2045: text/plain by default
    if len(types) == 1 and _PLAIN_TEXT_TYPE.fullmatch(types[0]):
        return True
    return message.get_content_maintype() == "text"


def is_unparseable(message: EmailMessage) -> bool:
    """Whether :func:`parse_message` gave up on the message as a whole."""
    return any(isinstance(d, UnparseableMessageDefect) for d in message.defects)
