"""iCalendar and vCard text -> the text a calendar or address book shows.

Both formats (RFC 5545, RFC 6350 and vCard 2.1/3.0) fold long lines: a line break
followed by one space or tab is removed by the reader, so ``TEL:07926 17`` + CRLF +
`` 1947`` is one number.  Values escape commas, semicolons and line breaks (``\\,``,
``\\;``, ``\\n``), structured values separate their parts with ``;`` (``ADR:;;27
Kingfisher Road;Leeds;;LS6 3QT``), parameters may be quoted or caret-escaped (RFC
6868), and vCard 2.1 values may be QUOTED-PRINTABLE (soft line breaks included) or
base64.  Each property becomes one line: its name, its parameter values, its value.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re

_TYPES = frozenset(
    {"text/calendar", "text/vcard", "text/x-vcard", "text/directory", "text/x-vcalendar"}
)
_EXTENSIONS = ("ics", "ical", "ifb", "vcs", "vcf", "vcard")
_BEGIN_RE = re.compile(r"^[ \t]*begin[ \t]*:[ \t]*v(?:calendar|card)\b", re.I | re.M)
_BEGIN_START_RE = re.compile(r"\s*begin[ \t]*:[ \t]*v(?:calendar|card)\b", re.I)
_FOLD_RE = re.compile(r"\r?\n[ \t]")  # RFC 5545 3.1, RFC 6350 3.2
_LINE_RE = re.compile(
    r"(?P<name>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?)"
    r"(?P<params>(?:;(?:[^:;\"\n]|\"[^\"\n]*\")*)*)"
    r":(?P<value>.*)"
)
_PARAM_RE = re.compile(r";((?:[^;\"]|\"[^\"]*\")*)")
_ESCAPE_RE = re.compile(r"\\(.)|;", re.S)
_ESCAPES = {"n": "\n", "N": "\n", ",": ",", ";": ";", "\\": "\\"}
_CARETS = {"^n": "\n", "^'": '"', "^^": "^"}
_CARET_RE = re.compile(r"\^[n'^]")


def is_directory(text: str, content_type: str = "", name: str = "", anywhere: bool = True) -> bool:
    """Whether ``text`` is iCalendar or vCard: by its type, its file name or its content
    (a ``BEGIN:VCARD`` line anywhere, or only at the start: a message body is not
    searched whole, which would cost every plain message)."""
    if content_type.lower() in _TYPES:
        return True
    if "." in name and name.lower().rpartition(".")[2] in _EXTENSIONS:
        return True
    if anywhere:  # the BEGIN line may itself be folded
        return _BEGIN_RE.search(text) is not None or (
            _FOLD_RE.search(text) is not None
            and _BEGIN_RE.search(_FOLD_RE.sub("", text)) is not None
        )
    return _BEGIN_START_RE.match(_FOLD_RE.sub("", text[:256])) is not None


def directory_text(text: str, content_type: str = "", name: str = "", anywhere: bool = True) -> str:
    """The shown text of an iCalendar or vCard document; "" when ``text`` is neither."""
    if not is_directory(text, content_type, name, anywhere):
        return ""
    out: list[str] = []
    for line in _logical_lines(text):
        m = _LINE_RE.match(line)
        if m is None:
            out.append(line)
            continue
        params = [p.strip() for p in _PARAM_RE.findall(m.group("params"))]
        value = m.group("value")
        if _has(params, "QUOTED-PRINTABLE"):
            value = _bytes_text(quopri.decodestring(value.encode("latin-1", "replace")), params)
        elif _has(params, "B") or _has(params, "BASE64"):
            value = _base64_text(value, params)
        shown = [_param_value(p) for p in params]
        out.append(" ".join([m.group("name"), *shown]) + ": " + _unescape(value))
    return "\n".join(out)


def _logical_lines(text: str) -> list[str]:
    """Physical lines joined into properties: a line that starts with a space or tab
    continues the one before (the fold's white space removed), and so does any line
    after a QUOTED-PRINTABLE value that ends with ``=`` (a soft line break, whose next
    line keeps its white space: it may be the value's own)."""
    if "QUOTED-PRINTABLE" not in text.upper():
        return _FOLD_RE.sub("", text).splitlines()
    lines: list[str] = []
    for raw in text.splitlines():
        last = lines[-1] if lines else ""
        if last.endswith("=") and "QUOTED-PRINTABLE" in last.partition(":")[0].upper():
            lines[-1] = last[:-1] + raw
        elif lines and raw[:1] in (" ", "\t"):
            lines[-1] = last + raw[1:]
        else:
            lines.append(raw)
    return lines


def _has(params: list[str], encoding: str) -> bool:
    """A parameter names ``encoding`` (``ENCODING=X`` or, in vCard 2.1, bare ``X``)."""
    return any(p.upper() in (encoding, f"ENCODING={encoding}") for p in params)


def _charset(params: list[str]) -> str:
    for p in params:
        key, _, value = p.partition("=")
        if key.upper() == "CHARSET" and value:
            return value.strip('"')
    return "utf-8"


def _bytes_text(data: bytes, params: list[str]) -> str:
    try:
        return data.decode(_charset(params), "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _base64_text(value: str, params: list[str]) -> str:
    """A base64 value, when it holds text (a photo or a key stays as it is)."""
    try:
        data = base64.b64decode(value.strip(), validate=False)
    except (binascii.Error, ValueError):
        return value
    if b"\x00" in data[:512]:
        return value
    try:
        return data.decode(_charset(params))
    except (UnicodeDecodeError, LookupError):
        return value


def _param_value(param: str) -> str:
    """``LABEL="27 Kingfisher Rd^nLeeds"`` -> its value, quotes and carets decoded."""
    value = param.partition("=")[2] or param
    value = value.replace('"', "")
    return _CARET_RE.sub(lambda m: _CARETS[m.group()], value) if "^" in value else value


def _unescape(value: str) -> str:
    """Escaped characters decoded; an unescaped ``;`` separates structured parts."""
    if "\\" not in value and ";" not in value:
        return value
    return _ESCAPE_RE.sub(
        lambda m: ", " if m.group(1) is None else _ESCAPES.get(m.group(1), m.group(1)), value
    )
