"""Tests of containers: zip, gzip, tar, forwarded messages and Outlook .msg."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import builders
from builders import MARKER, message, raw

from gateway.extract import Limits, extract
from gateway.extract.forwarded import streams_to_msg
from gateway.segments import Extraction


def attached(name: str, data: bytes, limits: Limits | None = None) -> Extraction:
    """Extraction of a message carrying one application/octet-stream attachment."""
    return extract(raw(message(attachments=[(name, data, "application/zip")])), limits)


def reasons(result: Extraction) -> list[tuple[str, str]]:
    """(location, reason) of every unreadable part."""
    return [(u.location, u.reason) for u in result.unreadable]


def locations(result: Extraction) -> list[str]:
    """Locations of every segment."""
    return [s.location for s in result.segments]


def test_docx_inside_zip_gets_a_nested_location() -> None:
    """A DOCX in a zip is read at `attachment:bundle.zip/report.docx`."""
    result = attached("bundle.zip", builders.zipped({"report.docx": builders.docx()}))
    assert "attachment:bundle.zip/report.docx" in locations(result)


def test_nested_zip_entries_join_paths_with_slashes() -> None:
    """A zip inside a zip keeps both paths in the location."""
    inner = builders.zipped({"notes/a.txt": MARKER.encode()})
    result = attached("outer.zip", builders.zipped({"inner.zip": inner}))
    assert [
        s.text
        for s in result.segments
        if s.location == "attachment:outer.zip/inner.zip/notes/a.txt"
    ] == [MARKER]


def test_zip_nested_deeper_than_the_limit_is_too_deeply_nested() -> None:
    """Archives nested past max_depth are reported, not read."""
    data = MARKER.encode()
    for level in range(3):
        data = builders.zipped({f"l{level}.zip" if level else "a.txt": data})
    result = attached("top.zip", data, Limits(max_depth=2))
    assert ("attachment:top.zip/l2.zip/l1.zip", "too deeply nested") in reasons(result)
    assert not any(MARKER in s.text for s in result.segments)


def test_encrypted_zip_entry_is_unreadable_encrypted() -> None:
    """An entry with the encryption flag set is reported as encrypted."""
    data = builders.encrypt_flag(builders.zipped({"secret.txt": MARKER.encode()}))
    assert reasons(attached("locked.zip", data)) == [
        ("attachment:locked.zip/secret.txt", "encrypted")
    ]


def test_zip_bomb_entry_is_refused_by_compression_ratio() -> None:
    """An entry that inflates far beyond max_ratio is reported, not expanded."""
    data = builders.zipped({"zeros.txt": bytes(3 * 1024 * 1024)})
    assert reasons(attached("bomb.zip", data, Limits(max_ratio=10))) == [
        ("attachment:bomb.zip/zeros.txt", "compression ratio")
    ]


def test_zip_over_total_uncompressed_is_over_size_limit() -> None:
    """An archive declaring more than max_total_uncompressed is reported."""
    data = builders.zipped({"a.txt": b"a" * 5000, "b.txt": b"b" * 5000})
    assert reasons(attached("big.zip", data, Limits(max_total_uncompressed=6000))) == [
        ("attachment:big.zip", "over size limit")
    ]


def test_zip_with_too_many_entries_is_reported() -> None:
    """An archive with more entries than max_archive_entries is reported."""
    data = builders.zipped({f"{i}.txt": b"x" for i in range(5)})
    assert reasons(attached("many.zip", data, Limits(max_archive_entries=3))) == [
        ("attachment:many.zip", "too many entries")
    ]


def test_gzip_and_tar_members_are_read() -> None:
    """A .tar.gz yields its files under `<archive>/<inner name>/<member>`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("docs/a.txt")
        info.size = len(MARKER)
        tar.addfile(info, io.BytesIO(MARKER.encode()))
    result = attached("files.tar.gz", gzip.compress(buf.getvalue()))
    assert [
        s.text
        for s in result.segments
        if s.location == "attachment:files.tar.gz/files.tar/docs/a.txt"
    ] == [MARKER]


def test_forwarded_message_fields_and_its_pdf_are_nested() -> None:
    """A message/rfc822 part gives `<name>/subject`, `<name>/body` and `<name>/file.pdf`."""
    inner = message(
        body=f"At {MARKER}",
        subject="Inner subject",
        attachments=[("letter.pdf", builders.pdf(), "application/pdf")],
    )
    outer = message(body="See below")
    outer.add_attachment(inner, filename="fwd.eml")
    found = {s.location: s.text for s in extract(raw(outer)).segments}
    assert found["attachment:fwd.eml/subject"] == "Inner subject"
    assert MARKER in found["attachment:fwd.eml/body"]
    assert MARKER in found["attachment:fwd.eml/letter.pdf"]
    assert found["body"].strip() == "See below"


def test_unnamed_forwarded_message_is_called_forwarded_eml() -> None:
    """A message/rfc822 part with no filename is `forwarded.eml`."""
    outer = message()
    outer.add_attachment(message(subject="Inner"))
    result = extract(raw(outer))
    assert "attachment:forwarded.eml/subject" in locations(result)


def test_eml_sent_as_octet_stream_is_read_as_a_message() -> None:
    """An .eml file attached as bytes is parsed as a forwarded message."""
    data = raw(message(subject="Inner", body=MARKER))
    result = attached("old.eml", data)
    assert "attachment:old.eml/subject" in locations(result)


def test_corrupt_part_does_not_stop_the_other_parts() -> None:
    """A broken attachment is corrupt while the body is still extracted."""
    msg = message(
        body=MARKER,
        attachments=[
            ("x.zip", b"PK\x03\x04junk", "application/zip"),
            ("y.txt", b"Heron", "text/plain"),
        ],
    )
    result = extract(raw(msg))
    assert ("attachment:x.zip", "corrupt") in reasons(result)
    assert "attachment:y.txt" in locations(result)


def test_outlook_msg_streams_give_subject_body_and_attachments() -> None:
    """An Outlook message's property streams decode to fields and attachments."""
    streams = {
        "__substg1.0_0037001F": "Visit plan".encode("utf-16-le"),
        "__substg1.0_1000001F": f"Meet at {MARKER}".encode("utf-16-le"),
        "__substg1.0_0E04001F": "Jane Doe".encode("utf-16-le"),
        "__attach_version1.0_#00000000/__substg1.0_3707001F": "a.txt".encode("utf-16-le"),
        "__attach_version1.0_#00000000/__substg1.0_37010102": b"Heron",
        "__attach_version1.0_#00000001/__substg1.0_3701000D/__substg1.0_0037001E": b"Inner",
    }
    content = streams_to_msg(streams)
    assert content.fields["subject"] == ["Visit plan"]
    assert content.fields["body"] == [f"Meet at {MARKER}"]
    assert content.fields["header:to"] == ["Jane Doe"]
    assert content.attachments == [("a.txt", b"Heron")]
    assert content.embedded[0][1].fields["subject"] == ["Inner"]


def test_zip_entry_larger_than_the_part_limit_is_over_size_limit() -> None:
    """An entry that inflates past max_part_bytes is over size limit."""
    data = builders.zipped({"a.txt": b"ab" * 3000}, compression=zipfile.ZIP_DEFLATED)
    assert reasons(attached("z.zip", data, Limits(max_part_bytes=4000))) == [
        ("attachment:z.zip/a.txt", "over size limit")
    ]


def test_corrupt_entry_in_zip_does_not_hide_the_next_entry() -> None:
    """A broken DOCX inside a zip is corrupt while the next entry is still read."""
    data = builders.zipped({"a.docx": b"PK\x03\x04broken", "b.txt": MARKER.encode()})
    result = attached("mixed.zip", data)
    assert ("attachment:mixed.zip/a.docx", "corrupt") in reasons(result)
    assert "attachment:mixed.zip/b.txt" in locations(result)


def test_base64_encoded_forwarded_message_is_still_walked() -> None:
    """A message/rfc822 part the parser left encoded is parsed as `forwarded.eml`."""
    inner = raw(message(subject="Inner", body=MARKER))
    outer = message()
    outer.add_attachment(inner, maintype="message", subtype="rfc822", cte="base64")
    del outer.get_payload()[-1]["Content-Disposition"]  # type: ignore[union-attr]
    result = extract(raw(outer))
    assert "attachment:forwarded.eml/subject" in locations(result), locations(result)
