"""raw bytes -> MIME tree (``EmailMessage``) with defects recorded, never raised.

One reading of the line endings.  SMTP lines end in CRLF, but a client may send a bare
CR or a bare LF, and readers disagree about them: the stdlib parser, Postfix and mail
clients each split lines their own way, so a "blank line" made of ``CR CR LF`` ended
the headers for one reader and not for another.  The relay (aiosmtplib) turns every
bare CR and bare LF into CRLF before it sends, so what the upstream and the recipient
get has no bare CR or LF left.  :func:`canonical_line_endings` is that same rewrite
(``CRLF``, ``LF``, ``CR`` each one line break, a final CRLF added): the SMTP proxy
applies it once to the DATA it received, scans those bytes, relays and holds exactly
those bytes, and :func:`parse_message` applies it too (a no-op on canonical input) so
``gateway scan`` on a file reads it as the gateway would relay it.

The stdlib parser already records defects instead of raising; this module adds the
canonical line endings and turns any unexpected exception into a recorded defect so
the caller always gets a message.
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


# Exactly the relay's rule (aiosmtplib's LINE_ENDINGS_REGEX): a CR followed by LF is one
# break; any other CR, and any other LF, is a break of its own.
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")


def canonical_line_endings(raw: bytes) -> bytes:
    """``raw`` with every line ending (CR, LF, CRLF) written CRLF and a final CRLF:
    the bytes the relay sends for ``raw``."""
    # Counting and replacing run at C speed; the regex only for real mixtures.
    crs, lfs = raw.count(b"\r"), raw.count(b"\n")
    if not crs:
        raw = raw.replace(b"\n", b"\r\n")
    elif not lfs:
        raw = raw.replace(b"\r", b"\r\n")
    elif not (crs == lfs == raw.count(b"\r\n")):
        raw = _LINE_END.sub(b"\r\n", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def parse_message(raw: bytes) -> EmailMessage:
    """Parse ``raw`` into an ``EmailMessage``; failures become a recorded defect."""
    try:
        if b"\r" in raw:  # without a CR, every reader splits lines at each LF alike
            raw = canonical_line_endings(raw)
        message = _single_part(raw) or BytesParser(EmailMessage, policy=POLICY).parsebytes(raw)
    except Exception:
        message = EmailMessage(policy=POLICY)
        message.defects.append(UnparseableMessageDefect())
    return message


# The first blank line (the first line itself, when it is empty), line endings read as
# _LINE_END reads them (so canonical and LF-only bytes too).
_BLANK_LINE = re.compile(rb"(?:\A|\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
# A Content-Type that plainly says text/*: no comment, quote or encoded word to parse.
_PLAIN_TEXT_TYPE = re.compile(r"\s*text/[a-z0-9.+-]+\s*(?:;[^()\"]*)?", re.IGNORECASE)


def header_block(raw: bytes) -> bytes:
    """The header lines and the blank line after them (all of ``raw`` if none), with
    line endings read as :func:`canonical_line_endings` reads them."""
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
