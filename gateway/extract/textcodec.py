"""bytes with a declared (possibly wrong) charset -> str, never raising.

Labels are read as browsers and mail clients read them, through the WHATWG Encoding
labels (``webencodings``): ``latin1`` and ``us-ascii`` are windows-1252, ``unicode``
and ``ucs-2`` are UTF-16LE, ``gb2312`` is GB18030...  Labels WHATWG maps to
"replacement" (ISO-2022-KR, HZ) and UTF-7, which mail clients do decode, go to Python's
codec.  A byte-order mark wins over any label.

Mail often lies about its charset.  Valid UTF-8 with non-ASCII bytes is almost never
meant as anything else, so it wins over a declared 8-bit charset.  Bytes the declared
charset cannot decode, a missing label, or NULs that say UTF-16 go to detection
(``charset-normalizer``); the common cases (ASCII, valid UTF-8, a label that fits)
never reach it.  7-bit charsets (ISO-2022-JP, UTF-7, HZ) are decoded even when every
byte is ASCII: their escapes are how they write everything that is not.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
from dataclasses import dataclass
from enum import Enum

import charset_normalizer
import webencodings  # type: ignore[import-untyped]  # no stubs; a label table

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


class _Kind(Enum):
    ASCII = "ASCII-compatible"  # ASCII bytes read as ASCII
    SEVEN = "7-bit, stateful"  # ASCII bytes with escapes: must be decoded
    WIDE = "UTF-16 or UTF-32"
    NONE = "no usable label"


@dataclass(frozen=True, slots=True)
class _Charset:
    """What a label means: codecs to try in order, and how its bytes relate to ASCII."""

    codecs: tuple[str, ...]
    kind: _Kind


_UNDECLARED = _Charset((), _Kind.NONE)
# WHATWG names whose decoder Python spells differently, or that need a fallback codec.
_WHATWG_CODECS = {
    "gbk": ("gb18030",),  # the WHATWG gbk decoder is the gb18030 decoder
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    "windows-1252": ("windows-1252",),  # ours: never fails, as in browsers
    "x-user-defined": ("x-user-defined",),
}
# Python codecs that are not charsets a mail client would honour.
_NOT_CHARSETS = frozenset(
    ("unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem")
)
_HIGH_BYTES = bytes(range(0x80, 0x100))
#: 8-bit bytes a text needs before detection says more than a guess
_DETECT_MIN = 16
_ISO2022_SNIFF = ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_kr")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_STARTS = tuple(bom for bom, _ in _BOMS)
# windows-1252 as WHATWG decodes it: the five bytes cp1252 leaves undefined are the C1
# controls of the same number (so decoding never fails).
_C1_AS_1252 = {
    code: (bytes([code]).decode("cp1252", "ignore") or chr(code)) for code in range(0x80, 0xA0)
}


def _kind_of(codec: str) -> _Kind:
    if codec.startswith(("utf-16", "utf-32", "utf_16", "utf_32")):
        return _Kind.WIDE
    if codec.startswith(("iso2022", "hz", "utf-7")):
        return _Kind.SEVEN
    return _Kind.ASCII if _ascii_safe(codec) else _Kind.NONE


@functools.lru_cache(maxsize=256)
def _ascii_safe(codec: str) -> bool:
    """Whether ``codec`` reads every ASCII byte as that ASCII character."""
    ascii_bytes = bytes(range(128))
    try:
        return _decode(ascii_bytes, codec) == ascii_bytes.decode("ascii")
    except (UnicodeDecodeError, LookupError):
        return False


@functools.lru_cache(maxsize=512)
def _charset(label: str | None) -> _Charset:
    """A declared charset label -> the codecs a mail client would decode it with."""
    if not label:
        return _UNDECLARED
    label = label.strip().strip("\"'").partition("*")[0]  # RFC 2231 ``utf-8*en``
    encoding = webencodings.lookup(label)
    if encoding is not None and encoding.name != "replacement":
        names = _WHATWG_CODECS.get(encoding.name, (encoding.codec_info.name,))
        return _Charset(names, _kind_of(names[0]))
    try:  # "replacement" in browsers (ISO-2022-KR, HZ), or not a WHATWG label (UTF-7)
        info = codecs.lookup(label.lower())
    except (LookupError, ValueError):
        return _UNDECLARED
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        return _UNDECLARED
    kind = _kind_of(info.name)
    return _UNDECLARED if kind is _Kind.NONE else _Charset((info.name,), kind)


def _decode(data: bytes, codec: str, errors: str = "strict") -> str:
    if codec == "windows-1252":
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1").translate(_C1_AS_1252)
    if codec == "x-user-defined":  # webencodings' own codec, not registered in Python
        return str(webencodings.lookup(codec).codec_info.decode(data, errors)[0])
    return data.decode(codec, errors)


def _strict(data: bytes, names: tuple[str, ...]) -> str | None:
    """The first codec of ``names`` that decodes ``data`` without error."""
    for name in names:
        try:
            return _decode(data, name)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Decode ``data`` as a mail client shows it, given its declared ``charset``."""
    declared = _charset(charset)
    text = _by_bom(data)
    if text is None:
        text = _cheap(data, declared)
    return _fallback(data, declared) if text is None else text


def _by_bom(data: bytes) -> str | None:
    """A byte-order mark decides, whatever the label says (as in browsers)."""
    if not data.startswith(_BOM_STARTS):  # one C call for the common case
        return None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    return None


def _cheap(data: bytes, declared: _Charset) -> str | None:
    """The declared 7-bit or wide codec, ASCII, valid UTF-8 or the declared 8-bit
    codec, in that order; None when detection has to decide."""
    if declared.kind in (_Kind.SEVEN, _Kind.WIDE):
        text = _strict(data, declared.codecs)
        if text is not None:
            return text
    if data.isascii():
        if b"\x00" in data or b"\x1b" in data:
            return _ascii_oddities(data)
        return data.decode("ascii")
    if b"\x00" in data or declared.kind is _Kind.WIDE:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return _strict(data, declared.codecs) if declared.kind is _Kind.ASCII else None


def _ascii_oddities(data: bytes) -> str:
    """ASCII bytes with NULs (UTF-16 without its label) or escapes (ISO-2022 without
    its label): what a client's detection shows, else plain ASCII."""
    if b"\x00" in data:
        wide = _wide(data)
        if wide is not None:
            return wide
    if b"\x1b" in data:
        sniffed = _strict(data, _ISO2022_SNIFF)
        if sniffed is not None:
            return sniffed
    return data.decode("ascii")


def _fallback(data: bytes, declared: _Charset) -> str:
    """Bytes the cheap path could not read: UTF-16/32 by its NULs, then detection,
    then the declared charset with replacement characters, then windows-1252."""
    if b"\x00" in data:
        wide = _wide(data)
        if wide is not None:
            return wide
    detected = _detect(data)
    if detected is not None:
        return detected
    if declared.codecs and declared.codecs[0] != "utf-8":  # broken UTF-8 is cp1252
        try:
            return _decode(data, declared.codecs[0], "replace")
        except LookupError:
            pass
    return _decode(data, "windows-1252")


def _wide(data: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, told by where its NULs fall.

    Text in a Latin script has a NUL in every character's high byte(s) and almost
    none in the low one; trailing NUL padding is left out of the count."""
    body = data.rstrip(b"\x00")
    if len(body) < 4:
        return None
    nul = [body[i::4].count(0) / len(body[i::4]) for i in range(4)]
    for codec, high, low in (
        ("utf-32-le", min(nul[2], nul[3]), nul[0]),
        ("utf-32-be", min(nul[0], nul[1]), nul[3]),
    ):
        if high > 0.9 and low < 0.1:
            return data[: len(data) // 4 * 4].decode(codec, "replace")
    even, odd = (nul[0] + nul[2]) / 2, (nul[1] + nul[3]) / 2
    for codec, high, low in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if high >= 0.3 and low < 0.05:
            return data[: len(data) // 2 * 2].decode(codec, "replace")
    return None


@functools.cache
def _detectable() -> tuple[str, ...]:
    """Codecs detection may choose: the WHATWG ones that keep ASCII as ASCII (not
    UTF-16, ISO-2022 or the obscure code pages no mail client would guess)."""
    names = {webencodings.lookup(label).codec_info.name for label in webencodings.LABELS}
    names.discard("x-user-defined")
    return tuple(sorted(n for n in names if _kind_of(n) is _Kind.ASCII and n != "utf-8"))


def _detect(data: bytes) -> str | None:
    """``charset-normalizer``'s best reading among ``_detectable`` codecs.

    A few 8-bit bytes say nothing about their charset (detection reads four Latin-1
    bytes as UTF-16 or Arabic); those are read as windows-1252, what WHATWG decoders
    and most clients fall back to."""
    if len(data) - len(data.translate(None, _HIGH_BYTES)) < _DETECT_MIN:
        return None
    guess = charset_normalizer.from_bytes(data, cp_isolation=list(_detectable())).best()
    return None if guess is None or not _ascii_safe(guess.encoding) else str(guess)


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
