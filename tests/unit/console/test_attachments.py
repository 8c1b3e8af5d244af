"""Attachment facts on the message page: name, type, size and what the scan made of it."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

from email.message import EmailMessage

from gateway.console.attachments import attachments
from gateway.extract import Limits, extract
from gateway.parse import parse_message


def _message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@council.example"
    msg["To"] = "b@landlord.example"
    msg["Subject"] = "Papers"
    msg.set_content("See attached.")
    msg.add_attachment(b"Tenancy notes\n", maintype="text", subtype="plain", filename="notes.txt")
    msg.add_attachment(b"PK\x03\x04broken", maintype="application", subtype="zip", filename="a.zip")
    msg.add_attachment(b"\x00" * 2048, maintype="application", subtype="octet-stream")
    return bytes(msg)


def test_each_attachment_is_listed_with_what_the_scan_made_of_it() -> None:
    """The body is no attachment; a text file is read, a broken zip is not, an unnamed
    part keeps the name the extractors give it."""
    raw = _message()
    found = attachments(parse_message(raw), extract(raw, Limits()))
    assert ["notes.txt", "a.zip", "part4.bin"] == [a.name for a in found]
    notes, archive, unnamed = found
    assert ("text/plain", "14 bytes", "Read") == (
        notes.content_type,
        notes.size_text,
        notes.outcome,
    )
    assert archive.outcome.startswith("Could not be read (")
    assert ("2.0 KB", "application/octet-stream") == (unnamed.size_text, unnamed.content_type)
