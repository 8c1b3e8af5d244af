"""Tests of PDF text: reading order whatever the drawing order, metadata kept apart,
embedded files read, and pages too large for PDFium refused."""

from __future__ import annotations

import pytest
from attachment_builders import glyph_ops, raw_pdf
from builders import message, raw
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import extract, pdf
from gateway.segments import Extraction

LINES = ["Dear Mr Smith,", "Flat 3, 27 Kingfisher Road", "Leeds LS6 3QT", "Tel 07700 900461"]


def attached(data: bytes, name: str = "letter.pdf") -> Extraction:
    """Extraction of a message carrying one PDF."""
    return extract(raw(message(attachments=[(name, data, "application/pdf")])))


def body(result: Extraction, name: str = "letter.pdf") -> str:
    """The page text of the PDF attachment."""
    return "\n".join(s.text for s in result.segments if s.location == f"attachment:{name}")


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.sampled_from([9.0, 12.0, 17.5]))
def test_glyphs_drawn_in_any_order_read_in_reading_order(seed: int, size: float) -> None:
    """One text operator per glyph, drawn in a random order at the right positions,
    still reads as the lines a viewer shows."""
    text = body(attached(raw_pdf(glyph_ops(LINES, size=size, seed=seed))))
    for line in LINES:
        assert line in text


def test_glyphs_drawn_in_order_read_once() -> None:
    """Glyph-by-glyph text already in reading order is not repeated."""
    text = body(attached(raw_pdf(glyph_ops(LINES))))
    assert 1 == text.count("27 Kingfisher Road")


def test_metadata_is_a_segment_of_its_own() -> None:
    """Title and author are read at `#metadata`, not in the page text."""
    data = raw_pdf(glyph_ops(["Hello"]), info=b"/Title (27 Kingfisher Road) /Author (Jo)")
    result = attached(data)
    metadata = [s.text for s in result.segments if s.location.endswith("letter.pdf#metadata")]
    assert ["27 Kingfisher Road\nJo"] == metadata
    assert "Kingfisher" not in body(result)


def test_embedded_file_is_read_through_the_dispatcher() -> None:
    """A file embedded in a PDF is read at `<pdf>/<name>`."""
    data = raw_pdf(glyph_ops(["Hello"]), attachment=("notes.txt", b"27 Kingfisher Road"))
    found = {s.location: s.text for s in attached(data).segments}
    assert "27 Kingfisher Road" == found["attachment:letter.pdf/notes.txt"]


def test_page_over_the_content_limit_is_not_handed_to_pdfium(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page whose content streams decompress past the limit is over size, unread."""
    monkeypatch.setattr(pdf, "MAX_PAGE_CONTENT", 1000)
    result = attached(raw_pdf(b"0 0 1 1 re f\n" * 100))
    assert [("attachment:letter.pdf", "over size limit")] == [
        (u.location, u.reason) for u in result.unreadable
    ]


def test_a_million_text_operators_are_refused_at_once() -> None:
    """The 10 KB PDF that took pypdf 34 s (a million one-glyph ``Tj``) is over size
    before PDFium lays it out, so it costs milliseconds, not seconds."""
    import time

    data = raw_pdf(b"BT /F1 12 Tf 100 700 Td " + b"(a) Tj " * 1_000_000 + b"ET")
    started = time.monotonic()
    result = attached(data)
    assert time.monotonic() - started < 2
    assert [("attachment:letter.pdf", "over size limit")] == [
        (u.location, u.reason) for u in result.unreadable
    ]


def test_a_hundred_thousand_text_operators_are_read() -> None:
    """A page of 100,000 one-glyph text objects is within the caps and read."""
    data = raw_pdf(b"\n".join([b"BT /F1 12 Tf 100 700 Td (a) Tj ET"] * 100_000))
    result = attached(data)
    assert () == result.unreadable
    assert "a" in body(result)
