"""Archives (zip, 7z, tar, gzip, bzip2, xz) -> each entry handed back to the dispatcher.

Every limit is checked twice: against what the archive declares, and against the
bytes actually produced while decompressing, because a hostile archive lies in its
headers. Office formats use :func:`member_bytes` for the same protection. Every name
an archive holds (files, folders, links, whatever they contain) is recorded in
``ctx.names``: a folder called after a protected address is a leak on its own.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from io import BytesIO
from typing import IO

import py7zr
import py7zr.exceptions
import py7zr.io

from gateway.budget import OVER_TIME, OverBudget
from gateway.extract.context import (
    CORRUPT,
    ENCRYPTED,
    MIB,
    OVER_SIZE,
    RATIO,
    TOO_DEEP,
    TOO_MANY,
    Blob,
    Context,
)
from gateway.extract.textcodec import decode_text

#: a format we recognise as an archive but have no reader for (RAR, CAB, ARJ, zstd...)
UNSUPPORTED_ARCHIVE = "unsupported archive"
#: below this size a high compression ratio is ordinary (blank XML, padding), not a bomb
RATIO_MIN_BYTES = 1 * MIB
_CHUNK = 64 * 1024
_ZIP_UTF8 = 0x800
_ZIP_UNICODE_PATH = 0x7075
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError)
#: single-file compressions: what a tool names the file inside ``x.tgz``, ``x.gz``...
_INNER_SUFFIXES = {
    ".tgz": ".tar",
    ".taz": ".tar",
    ".tbz": ".tar",
    ".tbz2": ".tar",
    ".tb2": ".tar",
    ".txz": ".tar",
    ".tlz": ".tar",
    ".gz": "",
    ".gzip": "",
    ".bz2": "",
    ".bz": "",
    ".xz": "",
    ".lzma": "",
}


class _Refused(Exception):
    """A limit was crossed while an archive library was writing an entry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ratio_ok(ctx: Context, produced: int, compressed: int) -> bool:
    """Whether ``produced`` bytes from ``compressed`` bytes is a believable ratio."""
    if produced <= RATIO_MIN_BYTES:
        return True
    return produced <= ctx.limits.max_ratio * max(compressed, 1)


def _charge(ctx: Context, produced: int, size: int, compressed: int) -> str | None:
    """Charge ``size`` new bytes (``produced`` so far for this entry); why to stop, if so."""
    ctx.uncompressed += size
    if time_up(ctx):
        return OVER_TIME
    if produced > ctx.limits.max_part_bytes or (
        ctx.uncompressed > ctx.limits.max_total_uncompressed
    ):
        return OVER_SIZE
    return None if _ratio_ok(ctx, produced, compressed) else RATIO


def time_up(ctx: Context) -> bool:
    """Whether the time budget is spent (for loops that must stop a library cleanly)."""
    try:
        ctx.check_time()
    except OverBudget:
        return True
    return False


def _stream(ctx: Context, source: IO[bytes], compressed: int, location: str) -> bytes | None:
    """Read ``source`` in chunks, stopping as soon as a limit is crossed."""
    chunks: list[bytes] = []
    produced = 0
    while chunk := source.read(_CHUNK):
        produced += len(chunk)
        reason = _charge(ctx, produced, len(chunk), compressed)
        if reason == OVER_TIME:
            raise OverBudget(OVER_TIME)
        if reason is not None:
            ctx.fail(location, reason)
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def member_bytes(
    ctx: Context, zf: zipfile.ZipFile, info: zipfile.ZipInfo, location: str
) -> bytes | None:
    """Bytes of one zip member, or None after recording why it cannot be read."""
    ctx.check_time()
    if info.flag_bits & 0x1:
        ctx.fail(location, ENCRYPTED)
        return None
    if info.file_size > ctx.limits.max_part_bytes:
        ctx.fail(location, OVER_SIZE)
        return None
    if not _ratio_ok(ctx, info.file_size, info.compress_size):
        ctx.fail(location, RATIO)
        return None
    with zf.open(info) as source:
        return _stream(ctx, source, info.compress_size, location)


def open_zip(data: bytes) -> zipfile.ZipFile:
    """A zip reader over ``data`` (raises ``BadZipFile`` when it is not one)."""
    return zipfile.ZipFile(BytesIO(data))


def _nested_ok(ctx: Context, blob: Blob) -> bool:
    """Whether entries of ``blob`` are still within the nesting limit."""
    if blob.depth + 1 > ctx.limits.max_depth:
        ctx.fail(blob.location, TOO_DEEP)
        return False
    return True


def _unicode_path(extra: bytes) -> str | None:
    """The Info-ZIP Unicode Path extra field (0x7075): the UTF-8 name, if present."""
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4 : at + 4 + size]
        if tag == _ZIP_UNICODE_PATH and len(body) > 5 and body[0] == 1:
            try:
                return body[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
        at += 4 + size
    return None


def zip_name(info: zipfile.ZipInfo) -> str:
    """The name an unzip tool shows: flagged UTF-8, the Unicode Path field, UTF-8 bytes
    written without the flag (common), else the cp437 the format defaults to."""
    if info.flag_bits & _ZIP_UTF8:
        return info.filename
    unicode_path = _unicode_path(info.extra)
    if unicode_path:
        return unicode_path
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _names(ctx: Context, base: str, paths: Iterator[str] | list[str]) -> None:
    """Record every entry path (files and folders) of an archive at ``base``."""
    for path in paths:
        clean = path.replace("\\", "/").strip("/")
        if clean:
            ctx.names.append(f"{base}/{clean}")


def read_zip(ctx: Context, blob: Blob) -> None:
    """Each entry of a zip archive as its own location ``<zip>/<entry path>``."""
    if not _nested_ok(ctx, blob):
        return
    with open_zip(blob.data) as zf:
        infos = zf.infolist()
        if len(infos) > ctx.limits.max_archive_entries:
            ctx.fail(blob.location, TOO_MANY)
            return
        names = [zip_name(i) for i in infos]
        _names(ctx, blob.location, names)
        comments = [zf.comment, *(i.comment for i in infos)]
        ctx.add(blob.location, "\n".join(decode_text(c) for c in comments if c))
        files = [(i, n) for i, n in zip(infos, names, strict=True) if not i.is_dir()]
        if sum(i.file_size for i, _ in files) > ctx.limits.max_total_uncompressed:
            ctx.fail(blob.location, OVER_SIZE)
            return
        for info, name in files:
            location = f"{blob.location}/{name}"
            try:
                data = member_bytes(ctx, zf, info, location)
            except NotImplementedError:  # a compression method zipfile has no codec for
                ctx.fail(location, UNSUPPORTED_ARCHIVE)
                continue
            except _ZIP_ERRORS:
                ctx.fail(location, CORRUPT)
                continue
            if data is not None:
                _entry(ctx, data, name, location, blob.depth + 1)


def _entry(ctx: Context, data: bytes, path: str, location: str, depth: int) -> None:
    """Hand one archive entry to the dispatcher (which has its own error boundary)."""
    name = path.rpartition("/")[2]
    ctx.read_blob(ctx, Blob(data, name, "application/octet-stream", location, depth))


class _Writer(py7zr.io.Py7zIO):
    """Receives one 7z entry from py7zr, charging every byte to the limits as it comes."""

    def __init__(self, owner: _Writers) -> None:
        self.owner = owner
        self.chunks: list[bytes] = []
        self.produced = 0

    def write(self, s: bytes | bytearray) -> int:
        self.produced += len(s)
        reason = _charge(self.owner.ctx, self.produced, len(s), self.owner.compressed)
        if reason is not None:
            self.owner.refused = reason
            raise _Refused(reason)
        self.chunks.append(bytes(s))
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.produced


class _Writers(py7zr.io.WriterFactory):
    """One ``_Writer`` per entry, kept by the path py7zr gives it."""

    def __init__(self, ctx: Context, compressed: int) -> None:
        self.ctx = ctx
        self.compressed = compressed
        self.refused: str | None = None
        self.products: dict[str, _Writer] = {}

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        self.products[filename] = _Writer(self)
        return self.products[filename]


def read_7z(ctx: Context, blob: Blob) -> None:
    """Each file of a 7z archive as its own location; encrypted ones are ``encrypted``."""
    if not _nested_ok(ctx, blob):
        return
    try:
        archive = py7zr.SevenZipFile(BytesIO(blob.data), mode="r")
    except py7zr.exceptions.PasswordRequired:  # the names themselves are encrypted
        ctx.fail(blob.location, ENCRYPTED)
        return
    with archive:
        infos = archive.list()
        if len(infos) > ctx.limits.max_archive_entries:
            ctx.fail(blob.location, TOO_MANY)
            return
        _names(ctx, blob.location, [i.filename for i in infos])
        if archive.needs_password():
            ctx.fail(blob.location, ENCRYPTED)
            return
        if sum(i.uncompressed or 0 for i in infos) > ctx.limits.max_total_uncompressed:
            ctx.fail(blob.location, OVER_SIZE)
            return
        writers = _Writers(ctx, len(blob.data))
        try:
            archive.extractall(factory=writers)  # noqa: S202 - into memory writers, no paths
        except Exception:
            if writers.refused == OVER_TIME:
                raise OverBudget(OVER_TIME) from None
            ctx.fail(blob.location, writers.refused or CORRUPT)
            return
    for path, writer in writers.products.items():
        location = f"{blob.location}/{path}"
        _entry(ctx, b"".join(writer.chunks), path, location, blob.depth + 1)


def _gzip_members(data: bytes) -> Iterator[bytes]:
    """Output of each gzip member in turn, in bounded chunks."""
    while data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(wbits=31)
        pending = data
        while pending and not inflater.eof:
            out = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if out:
                yield out
            elif not pending:
                break
        if not inflater.eof:
            raise EOFError("truncated")
        data = inflater.unused_data.lstrip(b"\x00")


def _stream_members(data: bytes, kind: str) -> Iterator[bytes]:
    """Output of each bzip2 or xz/lzma stream in turn, in bounded chunks."""
    again = b"BZh" if kind == "bzip2" else b"\xfd7zXZ\x00"  # a concatenated stream
    while data:
        inflater = bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor()
        yield inflater.decompress(data, _CHUNK)
        while not inflater.eof and not inflater.needs_input:
            yield inflater.decompress(b"", _CHUNK)
        if not inflater.eof:
            raise EOFError("truncated")
        rest = inflater.unused_data.lstrip(b"\x00")
        data = rest if rest.startswith(again) else b""


def _inflate(ctx: Context, blob: Blob, kind: str) -> bytes | None:
    """The whole output of a single-file compression, or None after recording why not."""
    chunks = _gzip_members(blob.data) if kind == "gzip" else _stream_members(blob.data, kind)
    out: list[bytes] = []
    produced = 0
    try:
        for chunk in chunks:
            produced += len(chunk)
            reason = _charge(ctx, produced, len(chunk), len(blob.data))
            if reason == OVER_TIME:
                raise OverBudget(OVER_TIME)
            if reason is not None:
                ctx.fail(blob.location, reason)
                return None
            out.append(chunk)
    except (EOFError, OSError, zlib.error, lzma.LZMAError):
        ctx.fail(blob.location, CORRUPT)  # what came before the damage is still read
    return b"".join(out)


def _gzip_header_text(ctx: Context, blob: Blob) -> None:
    """The original file name and the comment a gzip header may carry (RFC 1952)."""
    data = blob.data
    flags = data[3] if len(data) > 10 else 0
    at = 10
    if flags & 0x04 and len(data) > 12:  # FEXTRA
        at += 2 + int.from_bytes(data[10:12], "little")
    for flag in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated ISO 8859-1
        if flags & flag:
            end = data.find(b"\x00", at)
            end = len(data) if end < 0 else end
            text = data[at:end].decode("latin-1")
            if flag == 0x08:
                _names(ctx, blob.location, [text])
            else:
                ctx.add(blob.location, text)
            at = end + 1


def _inner_name(name: str) -> str:
    """What a tool calls the file inside ``name``: ``a.tgz`` -> ``a.tar``, ``a.gz`` -> ``a``."""
    base = name.rpartition("/")[2]
    lowered = base.lower()
    for suffix, replacement in _INNER_SUFFIXES.items():
        if lowered.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)] + replacement
    return "data"


def read_compressed(ctx: Context, blob: Blob, kind: str) -> None:
    """The one file inside a gzip, bzip2 or xz stream, named after the archive."""
    if not _nested_ok(ctx, blob):
        return
    if kind == "gzip":
        _gzip_header_text(ctx, blob)
    data = _inflate(ctx, blob, kind)
    if data is not None:
        inner = _inner_name(blob.name)
        _entry(ctx, data, inner, f"{blob.location}/{inner}", blob.depth + 1)


def read_gzip(ctx: Context, blob: Blob) -> None:
    """A gzip stream (``.gz``, ``.tgz``)."""
    read_compressed(ctx, blob, "gzip")


def read_bzip2(ctx: Context, blob: Blob) -> None:
    """A bzip2 stream (``.bz2``, ``.tbz2``)."""
    read_compressed(ctx, blob, "bzip2")


def read_xz(ctx: Context, blob: Blob) -> None:
    """An xz or legacy lzma stream (``.xz``, ``.txz``, ``.lzma``)."""
    read_compressed(ctx, blob, "xz")


def _tar_name(name: str) -> str:
    """A tar member name; bytes that were not UTF-8 are decoded as a tool would show them."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return decode_text(name.encode("utf-8", "surrogateescape"))
    return name


def read_tar(ctx: Context, blob: Blob) -> None:
    """Each regular file of a tar archive as its own location; every name recorded."""
    if not _nested_ok(ctx, blob):
        return
    with tarfile.open(fileobj=BytesIO(blob.data), mode="r:") as tar:
        members: list[tarfile.TarInfo] = []
        for member in tar:
            if len(members) >= ctx.limits.max_archive_entries:
                ctx.fail(blob.location, TOO_MANY)
                return
            members.append(member)
        _names(ctx, blob.location, [_tar_name(m.name) for m in members])
        _names(ctx, blob.location, [_tar_name(m.linkname) for m in members if m.linkname])
        for member in (m for m in members if m.isfile()):
            name = _tar_name(member.name)
            location = f"{blob.location}/{name}"
            if member.size > ctx.limits.max_part_bytes:
                ctx.fail(location, OVER_SIZE)
                continue
            source = tar.extractfile(member)
            data = _stream(ctx, source or BytesIO(), max(member.size, 1), location)
            if data is not None:
                _entry(ctx, data, name, location, blob.depth + 1)
