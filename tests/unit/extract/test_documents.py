"""Tests of document extractors: PDF, Office, OpenDocument and text-like files."""

from __future__ import annotations

import builders
from builders import MARKER, message, raw

from gateway.extract import extract
from gateway.segments import Extraction


def attached(name: str, data: bytes, ctype: str = "application/octet-stream") -> Extraction:
    """Extraction of a message carrying one attachment."""
    return extract(raw(message(attachments=[(name, data, ctype)])))


def text_at(result: Extraction, location: str) -> str:
    """The text of the one segment at ``location``."""
    found = [s.text for s in result.segments if s.location == location]
    assert len(found) == 1, (location, [s.location for s in result.segments])
    return found[0]


def test_pdf_pages_form_fields_annotations_and_metadata_are_read() -> None:
    """A PDF yields both pages, the AcroForm value, the annotation and (kept apart from
    the body, at `#metadata`) the author."""
    data = builders.pdf(field_value="Flat 9 Osprey", annotation="Note Avocet")
    result = attached("letter.pdf", data, "application/pdf")
    text = text_at(result, "attachment:letter.pdf")
    assert MARKER in text
    assert "Second page text" in text
    assert "\n\f\n" in text
    assert "Flat 9 Osprey" in text
    assert "Note Avocet" in text
    assert "Jane Author" not in text
    assert "Jane Author" in text_at(result, "attachment:letter.pdf#metadata")


def test_encrypted_pdf_is_unreadable_encrypted() -> None:
    """A PDF needing a password is reported as encrypted, with no text."""
    result = attached("secret.pdf", builders.encrypted_pdf(), "application/pdf")
    assert [(u.location, u.reason) for u in result.unreadable] == [
        ("attachment:secret.pdf", "encrypted")
    ]


def test_corrupt_pdf_is_unreadable_corrupt() -> None:
    """Bytes declared as PDF that do not parse are reported as corrupt."""
    result = attached("broken.pdf", b"%PDF-1.4 garbage", "application/pdf")
    assert [(u.location, u.reason) for u in result.unreadable] == [
        ("attachment:broken.pdf", "corrupt")
    ]


def test_docx_sent_as_octet_stream_is_read_with_all_its_parts() -> None:
    """A DOCX yields body, table cells, header, footer, notes, comments, changes, props."""
    text = text_at(attached("report.docx", builders.docx()), "attachment:report.docx")
    for phrase in (
        "Body paragraph",
        "Header Kestrel",
        "Footer Heron",
        "Footnote Plover",
        "Reviewer Magpie",
        "Inserted Flat 3",
        "Deleted SW1A 1AA",
        "Title Wren",
        "Author Finch",
        "Keyword Robin",
        "Comment Swift",
        "Subject Lark",
    ):
        assert phrase in text
    assert "27" in text.split()
    assert "Kingfisher Road" in text


def test_docx_with_wrong_name_is_still_read_by_magic() -> None:
    """A DOCX named .dat is recognised by its content."""
    assert "Header Kestrel" in text_at(attached("x.dat", builders.docx()), "attachment:x.dat")


def test_corrupt_docx_is_unreadable_corrupt() -> None:
    """A .docx that is not a zip is reported as corrupt."""
    result = attached("bad.docx", b"PK\x03\x04not really a zip")
    assert [(u.location, u.reason) for u in result.unreadable] == [
        ("attachment:bad.docx", "corrupt")
    ]


def test_xlsx_sheets_cells_names_and_comments_are_read() -> None:
    """An XLSX yields sheet names, tab-separated cells by row, and comments."""
    text = text_at(attached("people.xlsx", builders.xlsx()), "attachment:people.xlsx")
    assert "Contacts" in text
    assert "27\tKingfisher Road" in text
    assert "Visits" in text
    assert "Inline\t42" in text
    assert "Comment Curlew" in text


def test_pptx_slides_and_notes_are_read() -> None:
    """A PPTX yields slide text and speaker notes."""
    text = text_at(attached("deck.pptx", builders.pptx()), "attachment:deck.pptx")
    assert MARKER in text
    assert "Notes Dunlin" in text


def test_odt_text_is_read() -> None:
    """An ODT document yields its paragraphs."""
    assert MARKER in text_at(attached("letter.odt", builders.odt()), "attachment:letter.odt")


def test_rtf_is_converted_to_text() -> None:
    """An RTF document yields its text without control words."""
    rtf = rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard 27 Kingfisher Road\par}"
    text = text_at(attached("note.rtf", rtf, "application/rtf"), "attachment:note.rtf")
    assert MARKER in text
    assert "fonttbl" not in text


def test_csv_attachment_is_read_as_text() -> None:
    """A CSV attachment yields its cells."""
    data = b"number,street\r\n27,Kingfisher Road\r\n"
    assert "27,Kingfisher Road" in text_at(attached("a.csv", data, "text/csv"), "attachment:a.csv")


def test_json_strings_are_unescaped() -> None:
    """JSON keys and values come out with escapes decoded."""
    data = b'{"address": "27 Kingfisher Road", "name": "Zo\\u00eb"}'
    text = text_at(attached("a.json", data, "application/json"), "attachment:a.json")
    assert MARKER in text.splitlines()
    assert "Zoë" in text


def test_xml_text_and_attributes_are_read_without_entity_expansion() -> None:
    """XML yields text nodes and attribute values; a DTD entity is never expanded."""
    data = b'<r><addr street="Kingfisher Road">27</addr></r>'
    text = text_at(attached("a.xml", data, "application/xml"), "attachment:a.xml")
    assert "Kingfisher Road" in text
    assert "27" in text
    bomb = b'<!DOCTYPE r [<!ENTITY a "Heron Heron">]><r>&a;&a;</r>'
    assert text_at(attached("b.xml", bomb, "application/xml"), "attachment:b.xml") == (
        bomb.decode()
    )


def test_image_that_does_not_decode_is_corrupt() -> None:
    """An image is read by OCR (issue 12): one whose pixels do not decode is unscannable."""
    result = attached("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png")
    assert [s.location for s in result.segments if s.location.startswith("attachment")] == []
    assert [(u.location, u.reason) for u in result.unreadable] == [
        ("attachment:photo.png", "corrupt")
    ]
