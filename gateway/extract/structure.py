"""A MIME node readers disagree on -> the other readings of it, as parsed messages.

The stdlib parser makes one choice where mail software differs: the first of two
Content-Type or Content-Transfer-Encoding fields; no parts at all when a multipart's
boundary is missing or never appears; the rest of the header block as body after a
line that is not a header field.  A client may choose otherwise, so the MIME walk
reads the node the parser's way and also each way given here.  Nothing here raises.
"""

from __future__ import annotations

import re
from collections import Counter
from email.generator import Generator
from email.message import Message
from email.policy import compat32
from io import StringIO

from gateway.extract.textcodec import to_bytes
from gateway.parse import parse_message

# Fixed reasons (never text from the message) for what no reading could delimit.
UNDELIMITED = "undelimited parts"
AMBIGUOUS = "ambiguous structure"
MALFORMED_HEADER = "malformed header"

#: boundaries guessed for one multipart whose declared boundary is unusable
MAX_GUESSES = 3
_CONTENT_FIELDS = frozenset(("content-type", "content-transfer-encoding"))
# A line a lenient reader could take for a boundary: "--" and a token (RFC 2046 bchars
# without space, quote or backslash, which could not be written back into a parameter).
_BOUNDARY_LINE = re.compile(r"^--([^\s\"\\]{1,100}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_FIELD_LINE = re.compile(r"[\041-\071\073-\176]+:")
# Part headers inside a body: encoded parts a reader would decode had it found them.
_ENCODED_PART = re.compile(
    r"^content-transfer-encoding:[ \t]*\"?(?:base64|quoted-printable)",
    re.IGNORECASE | re.MULTILINE,
)
_FOLD = re.compile(r"\r?\n[ \t]*")
_CRLF = compat32.clone(linesep="\r\n")


def field_values(part: Message, name: str) -> list[str]:
    """Distinct values of field ``name`` in ``part``, unfolded, in the order given."""
    seen: dict[str, None] = {}
    for key, value in part.raw_items():
        if key.lower() == name:
            seen.setdefault(_FOLD.sub(" ", str(value)).strip(), None)
    return list(seen)


def raw_body(part: Message) -> str | None:
    """The undecoded body as the parser kept it; a multipart the parser split is
    written back out.  None when that fails."""
    payload = getattr(part, "_payload", None)
    if isinstance(payload, str):
        return payload
    try:
        out = StringIO()
        Generator(out, mangle_from_=False, policy=_CRLF).flatten(part)
    except Exception:
        return None
    return out.getvalue().partition("\r\n\r\n")[2]


def reparse(
    part: Message, body: str, fields: dict[str, str] | None = None, blank: str = "\r\n"
) -> Message:
    """``part`` with ``body``; the Content-Type and Content-Transfer-Encoding fields
    replaced by ``fields`` when given; ``blank=""`` lets ``body`` go on with fields."""
    items = list(part.raw_items())
    if fields is not None:
        items = [(n, v) for n, v in items if n.lower() not in _CONTENT_FIELDS]
        items += [(n, v) for n, v in fields.items() if v]
    head = "".join(f"{name}: {value}\r\n" for name, value in items)
    return parse_message(to_bytes(head + blank + body))


def content_readings(part: Message) -> list[Message] | None:
    """The readings of a part with conflicting Content-Type or Content-Transfer-
    Encoding fields other than the parser's (first of each): the first and the last
    type, each with every declared encoding.  [] when nothing conflicts; None when
    the body cannot be recovered to read again."""
    names = [name.lower() for name in part]
    if names.count("content-type") < 2 and names.count("content-transfer-encoding") < 2:
        return []  # the common case, without unfolding any value
    types = field_values(part, "content-type")
    encodings = field_values(part, "content-transfer-encoding")
    if len(types) < 2 and len(encodings) < 2:
        return []
    body = raw_body(part)
    if body is None:
        return None
    chosen = list(dict.fromkeys((types[0], types[-1]))) if types else [""]
    parser_reading = (chosen[0], encodings[0] if encodings else "")
    return [
        reparse(part, body, {"Content-Type": ctype, "Content-Transfer-Encoding": cte})
        for ctype in chosen
        for cte in encodings or [""]
        if (ctype, cte) != parser_reading
    ]


def boundary_guesses(body: str, declared: str | None) -> list[str]:
    """Boundaries a lenient reader could take in ``body``: the declared one where a
    line carries it in another case, the ``--token`` lines that recur, most frequent
    first, and the first such line (which opens the first part)."""
    found = _BOUNDARY_LINE.findall(body)
    if not found:
        return []
    counts = Counter(found)
    wanted = declared.strip().lower() if declared else None
    guesses = [b for b in counts if b.lower() == wanted]
    guesses += [b for b, n in counts.most_common() if n > 1]
    return list(dict.fromkeys([*guesses, found[0]]))[:MAX_GUESSES]


def as_multipart(part: Message, ctype: str, body: str, boundary: str) -> Message | None:
    """``part`` read as a ``ctype`` multipart delimited by ``boundary``, or None when
    that yields no parts."""
    reread = reparse(part, body, {"Content-Type": f'{ctype}; boundary="{boundary}"'})
    parts = reread.get_payload()
    return reread if isinstance(parts, list) and parts else None


def has_encoded_parts(body: str) -> bool:
    """Whether ``body`` holds part headers of an encoded part, which only a reader
    that could delimit the parts would decode."""
    return _ENCODED_PART.search(body) is not None


def past_bad_line(part: Message) -> Message | None:
    """The reading of a reader that skips a header block line that is not a field
    (the parser ended the headers there) and keeps reading fields after it; None
    when no field follows."""
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str):
        return None
    _, newline, rest = payload.partition("\n")
    if not newline or not _FIELD_LINE.match(rest):
        return None
    return reparse(part, rest, blank="")
