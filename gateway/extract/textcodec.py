"""bytes with a declared (possibly wrong) charset -> str, never raising.

Mail often lies about its charset. Valid UTF-8 with non-ASCII bytes is almost never
meant as anything else, so it wins over a declared single-byte charset; after that the
declared charset, then cp1252 (what "latin-1" mail usually is), then latin-1, which
decodes every byte.
"""

from __future__ import annotations

import binascii
import codecs
import re

_WIDE = ("utf-16", "utf-32", "utf_16", "utf_32")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _codec(charset: str | None) -> str | None:
    """The codec name for ``charset``, or None when Python does not know it."""
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip('"').lower()).name
    except (LookupError, ValueError):
        return None


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Decode ``data`` trying UTF-8, the declared charset, cp1252 and latin-1."""
    codec = _codec(charset)
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    not_ascii_compatible = codec is not None and (codec.startswith(_WIDE) or codec == "utf-7")
    if not_ascii_compatible or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode(codec or "utf-16")
        except UnicodeDecodeError:
            pass
    if data.isascii():
        return data.decode("ascii")
    for candidate in ("utf-8", codec, "cp1252"):
        if candidate is None:
            continue
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def b64decode_lenient(data: bytes) -> bytes:
    """Decode base64 that may have junk characters or broken padding."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        clean = _NOT_BASE64.sub(b"", data)
        clean = clean[: len(clean) - (len(clean) % 4 == 1)]
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def to_bytes(payload: str) -> bytes:
    """Undo the parser's surrogateescape decoding of a raw part body."""
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return payload.encode("utf-8", "surrogateescape")


def decode_transfer(payload: str, cte: str) -> bytes:
    """Bytes of a part body given its Content-Transfer-Encoding (unknown = as is)."""
    raw = to_bytes(payload)
    if cte == "base64":
        return b64decode_lenient(raw)
    if cte == "quoted-printable":
        return binascii.a2b_qp(raw)
    return raw
