"""Tests of parts without a useful type: text is read as text whatever it is called,
media carries no text, and anything else is `unknown format`, never skipped."""

from __future__ import annotations

import codecs

from attachment_builders import PNG
from builders import MARKER, message, raw
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import extract
from gateway.segments import Extraction

TEXT = f"[contact]\naddress = {MARKER}\ncity = Leeds\n"
_ENCODINGS = {
    "utf-8": lambda t: t.encode("utf-8"),
    "utf-8-bom": lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
    "utf-16-le": lambda t: t.encode("utf-16-le"),
    "utf-16-be": lambda t: t.encode("utf-16-be"),
    "utf-16-bom": lambda t: t.encode("utf-16"),
    "cp1252": lambda t: (t + "Café\n").encode("cp1252"),
}
_NAMES = ("settings.ini", "export.dat", "app.cfg", "data.xyz123", "noextension", "")
_TYPES = ("application/octet-stream", "image/png", "application/x-unknown")


def attached(name: str, data: bytes, ctype: str = "application/octet-stream") -> Extraction:
    """Extraction of a message carrying one attachment of declared type ``ctype``."""
    msg = message(attachments=[(name or "x", data, ctype)])
    if not name:  # a nameless part: no filename parameter at all
        part = msg.get_payload()[-1]  # type: ignore[index]
        del part["Content-Disposition"]
    return extract(raw(msg))


def reasons(result: Extraction) -> list[tuple[str, str]]:
    """(location, reason) of every unreadable part."""
    return [(u.location, u.reason) for u in result.unreadable]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(_ENCODINGS)),
    st.sampled_from(_NAMES),
    st.sampled_from(_TYPES),
)
def test_text_without_a_useful_type_is_read_as_text(encoding: str, name: str, ctype: str) -> None:
    """Text in UTF-8, UTF-16 (with or without BOM) or cp1252, called .ini, .dat, an
    unknown extension or nothing, declared octet-stream or even image/png, is read."""
    result = attached(name, _ENCODINGS[encoding](TEXT), ctype)
    assert any(MARKER in s.text for s in result.segments if s.location.startswith("attachment:"))
    assert [] == reasons(result)


def test_utf16_text_declared_as_plain_text_is_decoded() -> None:
    """A .txt attachment in UTF-16 without a BOM is read as UTF-16, not as NUL-laced bytes."""
    result = attached("notes.txt", TEXT.encode("utf-16-le"), "text/plain")
    assert any(MARKER in s.text for s in result.segments)


def test_known_media_carries_no_text_and_is_not_unscannable() -> None:
    """A PNG, whatever it is called or declared as, gives no text and no unreadable part."""
    for name, ctype in (("photo.png", "image/png"), ("blob.dat", "application/octet-stream")):
        result = attached(name, PNG, ctype)
        assert [] == reasons(result)
        assert f"attachment:{name}" in result.names


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=64, max_size=512))
def test_binary_of_no_known_format_is_unknown_format(data: bytes) -> None:
    """Bytes that are neither text, nor media, nor a format we read are unscannable."""
    result = attached("payload.dat", b"\x00\x01\x02\x03" * 8 + data)
    assert [("attachment:payload.dat", "unknown format")] == reasons(result)


def test_binary_that_claims_to_be_an_image_is_media() -> None:
    """A binary part declared image/* is not text and not held as unscannable."""
    result = attached("scan.heic", b"\x00\x01\x02\x03" + bytes(range(256)), "image/heic")
    assert [] == reasons(result)


def test_armoured_pgp_message_is_encrypted() -> None:
    """An ASCII-armoured PGP message cannot be read: it is `encrypted`, not text."""
    data = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA0xyz\n-----END PGP MESSAGE-----\n"
    assert [("attachment:msg.asc", "encrypted")] == reasons(attached("msg.asc", data))


def test_empty_file_is_named_but_not_unscannable() -> None:
    """An empty attachment has no text, no failure, and its name is recorded."""
    result = attached("27 Kingfisher Road.txt", b"")
    assert [] == reasons(result)
    assert "attachment:27 Kingfisher Road.txt" in result.names
