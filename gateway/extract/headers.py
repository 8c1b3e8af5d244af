"""Header fields of a message and its parts -> (location, text): every field is content.

A client shows any field it likes (every Subject, every display name, Organization,
Comments, a Received line in "show source"), so every field of every part is read,
decoded from RFC 2047.  Locations: ``subject`` for the message's Subject fields,
``header:NAME`` for address fields and fields of human text, and ``header:other`` for
all the rest, one ``Name: value`` line each.  Matching costs about as much per segment
as per kilobyte of text, so the many machine fields of real mail (Received, DKIM,
Message-ID, Content-*) share one segment; a field name is text a sender chooses too,
and only names from the fixed lists here ever appear in a location (locations show up
in findings, logs and the console).

Values are read raw (``raw_items``) and decoded with the cheap legacy helpers rather
than the ``policy.default`` header objects, which cost more to build than extracting a
whole plain-text message.
"""

from __future__ import annotations

import email.header
import email.utils
import re
from email.message import Message

from gateway.extract.textcodec import decode_text, to_bytes

#: fields whose value is a list of addresses with display names (RFC 5322, 2369,
#: 3798, 8098 and common practice)
ADDRESS_FIELDS = frozenset(
    (
        *("from", "sender", "to", "cc", "bcc", "reply-to"),
        *("resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc"),
        *("resent-reply-to", "disposition-notification-to", "return-receipt-to"),
        *("read-receipt-to", "errors-to", "mail-followup-to", "mail-reply-to"),
        *("return-path", "delivered-to", "x-original-to", "apparently-to", "envelope-to"),
        *("x-envelope-from", "x-envelope-to", "approved", "original-recipient"),
    )
)
#: fields of human text that get a location of their own
_HUMAN_FIELDS = frozenset(
    ("comments", "keywords", "organization", "organisation", "summary", "content-description")
)
_FOLD = re.compile(r"\r?\n[ \t]*|\r")
_NAMING = frozenset(("content-type", "content-disposition"))
# name= and filename= parameters (RFC 2231 forms too: name*=, name*0*=)
_NAME_PARAM = re.compile(r';\s*(?:file)?name(?:\*\d*\*?)?\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.I)
#: characters that need the full RFC 5322 address parser (quotes, comments, groups)
_COMPLEX = re.compile(r'["()\\:;]')
_WORD = re.compile(r"\w+")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words and 8-bit bytes in a raw header value."""
    if not value.isascii():
        value = decode_text(to_bytes(value))
    if "=?" not in value:
        return value.strip()
    try:
        words = email.header.decode_header(value)
    except Exception:
        return value.strip()
    return "".join(
        decode_text(chunk, charset) if isinstance(chunk, bytes) else chunk
        for chunk, charset in words
    ).strip()


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """Split a plain ``a@b, Name <c@d>`` list without the slow full parser."""
    if _COMPLEX.search(value):
        return None
    pairs = []
    for piece in value.split(","):
        name, _, addr = piece.partition("<")
        if addr:
            pairs.append((name.strip(), addr.partition(">")[0].strip()))
        elif piece.strip():
            pairs.append(("", piece.strip()))
    return pairs


def unfold(value: str) -> str:
    """A raw header value on one line (RFC 5322 unfolding)."""
    return _FOLD.sub(" ", value) if "\n" in value or "\r" in value else value


def address_pairs(value: str) -> list[tuple[str, str]]:
    """(raw display name, address) of each address in an unfolded address field."""
    pairs = _simple_addresses(value)
    return email.utils.getaddresses([value]) if pairs is None else pairs


def address_text(value: str) -> str:
    """Display names and addresses of an address header, one address per line."""
    lines = []
    for raw_name, addr in address_pairs(value):
        name = decode_words(raw_name)
        shown = f"{name} <{addr}>" if name and addr else name or addr
        if shown:
            lines.append(shown)
    return "\n".join(lines) if lines else decode_words(value)


def _address_field(value: str) -> str:
    """An address field's text: names and addresses one per line; where the address
    parser dropped words (group names, odd syntax), the whole decoded value as well."""
    try:
        text = address_text(value)
    except Exception:
        return decode_words(value)
    if _simple_addresses(value) is not None:
        return text
    whole = decode_words(value)
    if set(_WORD.findall(whole)) <= set(_WORD.findall(text)):
        return text
    return f"{text}\n{whole}"


def _without_file_name(part: Message, value: str) -> str:
    """A Content-Type or -Disposition value without its file name parameters when
    they all give the part's file name, which is read as the attachment's name."""
    found = _NAME_PARAM.findall(value)
    try:
        filename = part.get_filename()
    except Exception:
        return value
    if filename is None or any(
        decode_words(v.strip().strip('"')) != decode_words(filename) for v in found
    ):
        return value
    return _NAME_PARAM.sub("", value)


class Fields:
    """The fields of one message and its parts, gathered as the MIME walk meets them."""

    def __init__(self) -> None:
        self.named: dict[str, list[str]] = {}
        self.other: list[str] = []

    def read(self, part: Message, top: bool) -> None:
        """Gather every field of ``part``; ``top``: the message's own fields, whose
        Subject is ``subject``."""
        for name, value in part.raw_items():
            key = name.lower()
            raw = unfold(str(value))
            if key in ADDRESS_FIELDS:
                self.named.setdefault(f"header:{key}", []).append(_address_field(raw))
            elif key in _HUMAN_FIELDS or key == "subject":
                where = "subject" if top and key == "subject" else f"header:{key}"
                self.named.setdefault(where, []).append(decode_words(raw))
            else:
                if key in _NAMING and "name" in raw.lower():
                    raw = _without_file_name(part, raw)
                self.other.append(f"{name}: {decode_words(raw)}")

    def texts(self) -> list[tuple[str, str]]:
        """(location name, text) per location, values one per line, in the order met."""
        out = [(where, "\n".join(values)) for where, values in self.named.items()]
        return [*out, ("header:other", "\n".join(self.other))] if self.other else out
