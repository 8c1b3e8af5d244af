"""Tests that every name the extractors see is recorded and decoded as a mail client or
unzip tool shows it, whatever the file holds (images, empty files, folders)."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib

from attachment_builders import NAME_ENCODINGS, PNG, mime_with_named_part
from builders import message, raw
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import extract
from gateway.extract.forwarded import streams_to_msg

NAME = "27 Kingfisher Road, Ségolène Côté.png"  # non-ASCII, so every decoding step matters


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(NAME_ENCODINGS),
    st.sampled_from(["", "Flat 3 ", "Côté "]),
    st.sampled_from([PNG, b"", b"\x00\x01binary\x02\x03"]),
)
def test_encoded_attachment_names_are_decoded_and_recorded(
    how: str, prefix: str, data: bytes
) -> None:
    """A name sent plain, RFC 2231 (with continuations), RFC 2047 in quotes or as a
    Content-Type parameter is recorded decoded, whatever the part holds."""
    name = prefix + NAME
    result = extract(mime_with_named_part(name, how, data))
    assert f"attachment:{name}" in result.names


def _zip_with_raw_name(raw_name: bytes, utf8_flag: bool, extra: bytes = b"") -> bytes:
    """A zip with one empty stored member whose name bytes are written as given."""
    flags = 0x800 if utf8_flag else 0
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, 0, 0, 0, 0, 0, 0, len(raw_name), len(extra)
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        flags,
        0,
        0,
        0,
        0,
        0,
        0,
        len(raw_name),
        len(extra),
        0,
        0,
        0,
        0,
        0,
    )
    body = local + raw_name + extra
    directory = central + raw_name + extra
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


def _names_of(data: bytes, name: str = "a.zip") -> tuple[str, ...]:
    msg = message(attachments=[(name, data, "application/zip")])
    return extract(raw(msg)).names


def test_zip_member_names_decode_as_unzip_tools_show_them() -> None:
    """UTF-8 with the flag, UTF-8 without it, the Unicode Path field and cp437 all give
    the name the tool shows."""
    accented = "Côté Road/"
    unicode_path = accented.encode()
    field = struct.pack("<HHB", 0x7075, 5 + len(unicode_path), 1)
    field += struct.pack("<I", zlib.crc32(b"x")) + unicode_path
    cases = [
        (_zip_with_raw_name(accented.encode(), utf8_flag=True), "Côté Road"),
        (_zip_with_raw_name(accented.encode(), utf8_flag=False), "Côté Road"),
        (_zip_with_raw_name(b"x/", utf8_flag=False, extra=field), "Côté Road"),
        (_zip_with_raw_name(accented.encode("cp437"), utf8_flag=False), "Côté Road"),
    ]
    for data, expected in cases:
        assert f"attachment:a.zip/{expected}" in _names_of(data)


def test_zip_folders_and_empty_members_are_recorded() -> None:
    """Directory entries and empty files of a zip are names like the rest."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("Flat 3/", b"")
        zf.writestr("Flat 3/27 Kingfisher Road/empty.txt", b"")
    names = _names_of(out.getvalue())
    assert "attachment:a.zip/Flat 3" in names
    assert "attachment:a.zip/Flat 3/27 Kingfisher Road/empty.txt" in names


def test_tar_folders_and_links_are_recorded() -> None:
    """Tar directories and link targets are recorded as names."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        folder = tarfile.TarInfo("27 Kingfisher Road")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "LS6 3QT"
        tar.addfile(link)
    names = _names_of(out.getvalue(), "a.tar")
    assert {"attachment:a.tar/27 Kingfisher Road", "attachment:a.tar/LS6 3QT"} <= set(names)


def test_outlook_attachment_names_are_all_recorded() -> None:
    """Every name an Outlook attachment shows (long, short, display) is kept."""
    streams = {
        "__attach_version1.0_#00000000/__substg1.0_3707001F": "a.txt".encode("utf-16-le"),
        "__attach_version1.0_#00000000/__substg1.0_3001001F": "LS6 3QT".encode("utf-16-le"),
        "__attach_version1.0_#00000001/__substg1.0_3707001F": "nodata.png".encode("utf-16-le"),
    }
    assert ["a.txt", "LS6 3QT", "nodata.png"] == streams_to_msg(streams).names
