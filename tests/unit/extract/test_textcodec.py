"""Charsets: every WHATWG label, 7-bit charsets, byte-order marks and detection."""

from __future__ import annotations

import base64
import codecs
from email.header import Header

import pytest
import webencodings
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import extract
from gateway.extract.message import decode_words
from gateway.extract.textcodec import decode_text

SENTENCE = "Post to 27 Kingfisher Road, Leeds LS6 3QT"
# One letter per script: each label's sentence carries the first its codec can write.
_LETTERS = "é日한ก中Жαבعčőåąğšž€"


def _codec_of(label: str) -> str:
    """The Python codec that writes text in ``label``'s charset."""
    name = webencodings.lookup(label).name
    if name == "replacement":
        return label  # ISO-2022-KR, HZ; ISO-2022-CN has no codec (ASCII only below)
    if name == "x-user-defined":
        return "ascii"
    return str(webencodings.lookup(label).codec_info.name)


def _planted(codec: str) -> str:
    """``SENTENCE`` with a letter ``codec`` can encode, when it has one beyond ASCII."""
    for letter in _LETTERS:
        try:
            letter.encode(codec)
        except (UnicodeEncodeError, LookupError):
            continue
        return f"{SENTENCE} {letter}"
    return SENTENCE


def _encode(text: str, codec: str) -> bytes:
    try:
        return text.encode(codec)
    except LookupError:
        return text.encode("ascii")


@pytest.mark.parametrize("label", sorted(webencodings.LABELS))
def test_every_whatwg_label_decodes_a_sentence_written_in_its_charset(label: str) -> None:
    """Each label browsers accept reads the text its charset wrote, letters included."""
    codec = _codec_of(label)
    text = _planted(codec)
    assert text == decode_text(_encode(text, codec), label)


@pytest.mark.parametrize(
    "label", ["ucs-2", "unicode", "csunicode", "iso-10646-ucs-2", "unicodefeff", "UTF-16"]
)
def test_ucs2_labels_are_utf16le_without_a_bom(label: str) -> None:
    """``ucs-2``, ``unicode`` and friends mean UTF-16LE, as browsers read them."""
    assert SENTENCE == decode_text(SENTENCE.encode("utf-16-le"), label)


@pytest.mark.parametrize("label", ["latin1", "iso-8859-1", "us-ascii", "ascii"])
def test_latin1_and_ascii_labels_are_windows_1252(label: str) -> None:
    """Bytes 0x80-0x9F under a Latin-1 or ASCII label are windows-1252 (quotes, euro)."""
    assert "\u201c27\u201d \u20ac5 \x81" == decode_text(b"\x9327\x94 \x805 \x81", label)


def fullwidth(text: str) -> str:
    """``text`` in fullwidth forms, as CJK charsets write Latin letters and digits."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


WIDE_MARKER = fullwidth("27 Kingfisher")
_SEVEN_BIT = {
    "ISO-2022-JP": ("iso2022_jp", f"{WIDE_MARKER} 日本語"),
    "csISO2022JP": ("iso2022_jp", WIDE_MARKER),
    "ISO-2022-KR": ("iso2022_kr", f"{WIDE_MARKER} 한국어"),
    "HZ-GB-2312": ("hz", f"{WIDE_MARKER} 中文"),
    "UTF-7": ("utf-7", f"{WIDE_MARKER} Road"),
}


@pytest.mark.parametrize("label", sorted(_SEVEN_BIT))
def test_seven_bit_charsets_are_decoded_though_every_byte_is_ascii(label: str) -> None:
    """Escapes in ASCII bytes are decoded by the declared 7-bit charset."""
    codec, text = _SEVEN_BIT[label]
    data = text.encode(codec)
    assert data.isascii()
    assert text == decode_text(data, label)


_JAPANESE = st.text(alphabet=fullwidth("KingRoad27") + "日本語のabc 123", min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(text=_JAPANESE)
def test_iso2022jp_round_trips_any_text_it_can_write(text: str) -> None:
    """Any text ISO-2022-JP writes is read back as it was."""
    assert text == decode_text(text.encode("iso2022_jp"), "iso-2022-jp")


def test_iso2022jp_without_a_label_is_still_read() -> None:
    """ISO-2022-JP escapes without a label are read as clients detect them."""
    text = f"住所 {WIDE_MARKER}"
    assert text == decode_text(text.encode("iso2022_jp"))


_LATIN_TEXT = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,."),
    min_size=4,
    max_size=80,
).filter(lambda t: t.strip())


@settings(max_examples=150, deadline=None)
@given(
    text=_LATIN_TEXT,
    extra=st.text(alphabet="éü日Ж", max_size=3),
    codec=st.sampled_from(["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]),
    label=st.sampled_from([None, "", "us-ascii", "bogus-charset", "utf-8"]),
)
def test_utf16_and_utf32_without_bom_or_label_are_detected(
    text: str, extra: str, codec: str, label: str | None
) -> None:
    """Wide text in a Latin script is read by its NULs whatever the (wrong) label."""
    plain = text + extra
    assert plain == decode_text(plain.encode(codec), label)


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_a_byte_order_mark_wins_over_the_label(bom: bytes, codec: str) -> None:
    """A BOM decides the charset even under a contradicting label."""
    text = f"{SENTENCE} é"
    assert text == decode_text(bom + text.encode(codec), "iso-8859-2")


def test_a_wrong_label_on_cyrillic_text_falls_back_to_detection() -> None:
    """KOI8-R text labelled UTF-8 is detected and read as Cyrillic."""
    text = f"Пожалуйста, отправьте почту по адресу {SENTENCE}. Спасибо за помощь."
    assert text == decode_text(text.encode("koi8-r"), "utf-8")


@pytest.mark.parametrize("label", [None, "utf-8"])
def test_a_few_latin1_bytes_without_a_usable_label_are_windows_1252(label: str | None) -> None:
    """Too few 8-bit bytes to detect from: read as windows-1252, not a guess."""
    assert "José Müller" == decode_text("José Müller".encode("cp1252"), label)


def test_python_only_pseudo_charsets_are_not_honoured() -> None:
    """``unicode-escape`` is no mail charset: the bytes stay what a client shows."""
    assert "\\u0041 Kingfisher" == decode_text(b"\\u0041 Kingfisher", "unicode-escape")


def test_valid_utf8_wins_over_a_declared_8bit_charset() -> None:
    """UTF-8 bytes under a Latin-1 label are read as UTF-8 (mail lies about charsets)."""
    assert "Zoë Whitmore" == decode_text("Zoë Whitmore".encode(), "iso-8859-1")


def test_rfc2047_encoded_words_in_7bit_charsets_are_decoded() -> None:
    """An ISO-2022-JP encoded word is decoded like a body in that charset."""
    word = Header(WIDE_MARKER, "iso-2022-jp").encode()
    assert word.startswith("=?iso-2022-jp?b?")
    assert WIDE_MARKER == decode_words(word)


def test_a_ucs2_labelled_part_reaches_the_scan_as_text() -> None:
    """A base64 body labelled ``unicode`` reaches the segments as plain text."""
    body = base64.encodebytes(SENTENCE.encode("utf-16-le"))
    data = (
        b'Subject: s\r\nContent-Type: text/plain; charset="unicode"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    assert [SENTENCE] == [s.text for s in extract(data).segments if s.location == "body"]
