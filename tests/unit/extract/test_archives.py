"""Tests of archive formats: 7z, tar with its compressions, single-file compressions,
archives we cannot open, and the limits checked against the bytes produced."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile

from attachment_builders import FORMATS, sevenzip, wrap
from builders import MARKER, message, raw
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import Limits, extract
from gateway.segments import Extraction


def attached(name: str, data: bytes, limits: Limits | None = None) -> Extraction:
    """Extraction of a message carrying one application/octet-stream attachment."""
    return extract(raw(message(attachments=[(name, data, "application/octet-stream")])), limits)


def reasons(result: Extraction) -> list[tuple[str, str]]:
    """(location, reason) of every unreadable part."""
    return [(u.location, u.reason) for u in result.unreadable]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(sorted(FORMATS)), min_size=1, max_size=4))
def test_planted_text_is_found_through_any_nesting_of_archives(formats: list[str]) -> None:
    """A text file inside any nesting of zip, 7z, tar, tgz, tbz2, txz, gz, bz2 and xz
    is read, at a location that names every container on the way."""
    name, data = "note.txt", f"Visit at {MARKER}".encode()
    for fmt in formats:
        name, data = wrap(fmt, name, data)
    result = attached(name, data, Limits(max_depth=8))  # a compressed tar is two levels
    found = [s for s in result.segments if MARKER in s.text]
    assert [] == reasons(result)
    assert 1 == len(found)
    assert found[0].location.startswith(f"attachment:{name}/")
    assert found[0].location.endswith("note.txt")


def test_seven_zip_folders_and_files_are_read() -> None:
    """A 7z entry is read at `<archive>/<path>` and its path is recorded."""
    data = sevenzip({"case/a.txt": MARKER.encode(), "case/empty.txt": b""})
    result = attached("files.7z", data)
    assert [MARKER] == [s.text for s in result.segments if s.location.endswith("case/a.txt")]
    assert "attachment:files.7z/case/empty.txt" in result.names


def test_encrypted_seven_zip_is_encrypted() -> None:
    """A password-protected 7z is reported as encrypted, with no text."""
    data = sevenzip({"a.txt": MARKER.encode()}, password="secret")  # noqa: S106 - fixture
    result = attached("locked.7z", data)
    assert [("attachment:locked.7z", "encrypted")] == reasons(result)
    assert not any(MARKER in s.text for s in result.segments)


def test_seven_zip_bomb_is_stopped_by_the_bytes_it_produces() -> None:
    """A 7z entry inflating past max_part_bytes is refused while decompressing."""
    data = sevenzip({"zeros.txt": bytes(3 * 1024 * 1024)})
    result = attached("bomb.7z", data, Limits(max_part_bytes=1024 * 1024))
    assert [("attachment:bomb.7z", "over size limit")] == reasons(result)


def test_gzip_whose_output_outgrows_the_ratio_is_refused() -> None:
    """A gzip stream inflating far beyond max_ratio is a compression bomb."""
    data = gzip.compress(bytes(3 * 1024 * 1024))
    result = attached("zeros.gz", data, Limits(max_ratio=10))
    assert [("attachment:zeros.gz", "compression ratio")] == reasons(result)


def test_xz_and_bzip2_bombs_are_refused_by_size() -> None:
    """bzip2 and xz streams are cut off at max_part_bytes of output."""
    limits = Limits(max_part_bytes=1024 * 1024)
    for name, data in (
        ("z.bz2", bz2.compress(bytes(2 * 1024 * 1024))),
        ("z.xz", lzma.compress(bytes(2 * 1024 * 1024))),
    ):
        assert [(f"attachment:{name}", "over size limit")] == reasons(attached(name, data, limits))


def test_concatenated_gzip_members_are_all_read() -> None:
    """A gzip file made of two members yields the text of both."""
    data = gzip.compress(b"27 Kingfisher ") + gzip.compress(b"Road")
    texts = [s.text for s in attached("a.txt.gz", data).segments if s.location.endswith("a.txt")]
    assert [MARKER] == texts


def test_gzip_header_file_name_is_recorded() -> None:
    """The original file name a gzip header carries is a name like any other."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="27 Kingfisher Road.txt", mode="wb", fileobj=out) as gz:
        gz.write(b"hello")
    result = attached("notes.gz", out.getvalue())
    assert "attachment:notes.gz/27 Kingfisher Road.txt" in result.names


def test_unsupported_archives_are_unscannable_by_magic_and_by_name() -> None:
    """RAR, CAB, ARJ, LZH, ACE and zstd (by bytes, whatever the name) and a .rar that is
    not text are `unsupported archive`."""
    samples = {
        "a.bin": b"Rar!\x1a\x07\x01\x00" + bytes(40),
        "b.dat": b"MSCF\x00\x00\x00\x00" + bytes(40),
        "c.bin": b"\x60\xea" + bytes(40),
        "d.bin": b"\x00\x00-lh5-" + bytes(40),
        "e.bin": bytes(7) + b"**ACE**" + bytes(40),
        "f.bin": b"(\xb5/\xfd" + bytes(40),
        "g.rar": bytes(range(256)),
    }
    for name, data in samples.items():
        assert [(f"attachment:{name}", "unsupported archive")] == reasons(attached(name, data))


def test_zip_entry_with_a_method_zipfile_lacks_is_unsupported() -> None:
    """A zip entry compressed with a method we have no codec for is not silently skipped."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.txt", MARKER)
    data = bytearray(out.getvalue())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        data[data.find(signature) + offset] = 98  # PPMd
    assert [("attachment:m.zip/a.txt", "unsupported archive")] == reasons(
        attached("m.zip", bytes(data))
    )


def test_tar_bz2_and_txz_keep_the_tar_level_in_locations() -> None:
    """`x.tar.bz2` and `x.txz` read as `<archive>/x.tar/<member>`."""
    for fmt in ("tar.bz2", "txz"):
        name, data = wrap(fmt, "a.txt", MARKER.encode())
        locations = [s.location for s in attached(name, data).segments]
        assert f"attachment:{name}/a.tar/a.txt" in locations
