"""Outlook .msg and legacy Office files, built as real compound files."""

from __future__ import annotations

import cfbwriter
from builders import message, raw

from gateway.extract import extract


def _unicode(text: str) -> bytes:
    return cfbwriter.padded(text.encode("utf-16-le"))


def _msg() -> bytes:
    attachment = {
        "__substg1.0_3707001F": _unicode("letter.txt"),
        "__substg1.0_37010102": cfbwriter.padded(b"New address: 27 Kingfisher Road, Leeds"),
    }
    return cfbwriter.build(
        {
            "__substg1.0_0037001F": _unicode("Re: Sarah's move"),
            "__substg1.0_1000001F": _unicode("Her phone is 07700 900461."),
            "__substg1.0_0E04001F": _unicode("Mark Whitmore"),
            "__attach_version1.0_#00000000": attachment,
        }
    )


def test_outlook_msg_attachment_gives_subject_body_recipients_and_attachments() -> None:
    """A real .msg file: every field and its attached file come out with locations."""
    msg = message(attachments=[("fwd.msg", _msg(), "application/vnd.ms-outlook")])
    found = {(s.location, s.text.strip()) for s in extract(raw(msg)).segments}
    assert ("attachment:fwd.msg/subject", "Re: Sarah's move") in found
    assert ("attachment:fwd.msg/body", "Her phone is 07700 900461.") in found
    assert ("attachment:fwd.msg/header:to", "Mark Whitmore") in found
    texts = dict(found)
    assert "27 Kingfisher Road" in texts["attachment:fwd.msg/letter.txt"]


def test_msg_sent_as_octet_stream_is_recognised_by_its_magic_bytes() -> None:
    """The content type does not matter: the OLE signature does."""
    msg = message(attachments=[("mail.bin", _msg(), "application/octet-stream")])
    locations = {s.location for s in extract(raw(msg)).segments}
    assert "attachment:mail.bin/body" in locations


def test_legacy_word_document_text_is_read_and_marked_partly_read() -> None:
    """A Word 97-2003 file gives its text runs, and is flagged as only partly read."""
    stream = b"\x00" * 100 + "Tenant at 27 Kingfisher Road".encode("utf-16-le") + b"\x00" * 50
    doc = cfbwriter.build({"WordDocument": cfbwriter.padded(stream)})
    result = extract(raw(message(attachments=[("old.doc", doc, "application/msword")])))
    assert any("27 Kingfisher Road" in s.text for s in result.segments)
    assert [("attachment:old.doc", "legacy format, partly read")] == [
        (u.location, u.reason) for u in result.unreadable
    ]
