"""Archives (zip, gzip, tar) -> each entry handed back to the dispatcher, within limits.

Every limit is checked twice: against what the archive declares, and against the
bytes actually produced while decompressing, because a hostile archive lies in its
headers. Office formats use :func:`member_bytes` for the same protection.
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from io import BytesIO
from typing import IO

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

#: below this size a high compression ratio is ordinary (blank XML, padding), not a bomb
RATIO_MIN_BYTES = 1 * MIB
_CHUNK = 64 * 1024


def _ratio_ok(ctx: Context, produced: int, compressed: int) -> bool:
    """Whether ``produced`` bytes from ``compressed`` bytes is a believable ratio."""
    if produced <= RATIO_MIN_BYTES:
        return True
    return produced <= ctx.limits.max_ratio * max(compressed, 1)


def _stream(ctx: Context, source: IO[bytes], compressed: int, location: str) -> bytes | None:
    """Read ``source`` in chunks, stopping as soon as a limit is crossed."""
    chunks: list[bytes] = []
    produced = 0
    while chunk := source.read(_CHUNK):
        produced += len(chunk)
        ctx.uncompressed += len(chunk)
        if produced > ctx.limits.max_part_bytes or (
            ctx.uncompressed > ctx.limits.max_total_uncompressed
        ):
            ctx.fail(location, OVER_SIZE)
            return None
        if not _ratio_ok(ctx, produced, compressed):
            ctx.fail(location, RATIO)
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


def read_zip(ctx: Context, blob: Blob) -> None:
    """Each entry of a zip archive as its own location ``<zip>/<entry path>``."""
    if not _nested_ok(ctx, blob):
        return
    with open_zip(blob.data) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > ctx.limits.max_archive_entries:
            ctx.fail(blob.location, TOO_MANY)
            return
        if sum(i.file_size for i in infos) > ctx.limits.max_total_uncompressed:
            ctx.fail(blob.location, OVER_SIZE)
            return
        for info in infos:
            location = f"{blob.location}/{info.filename}"
            try:
                data = member_bytes(ctx, zf, info, location)
            except (
                zipfile.BadZipFile,
                zlib.error,
                OSError,
                EOFError,
                ValueError,
                NotImplementedError,
            ):
                ctx.fail(location, CORRUPT)
                continue
            if data is not None:
                _entry(ctx, data, info.filename, location, blob.depth + 1)


def _entry(ctx: Context, data: bytes, path: str, location: str, depth: int) -> None:
    """Hand one archive entry to the dispatcher (which has its own error boundary)."""
    name = path.rpartition("/")[2]
    ctx.read_blob(ctx, Blob(data, name, "application/octet-stream", location, depth))


def read_gzip(ctx: Context, blob: Blob) -> None:
    """The one file inside a gzip stream, named after the archive minus ``.gz``."""
    if not _nested_ok(ctx, blob):
        return
    inflater = zlib.decompressobj(wbits=47)
    limit = ctx.limits.max_part_bytes
    data = inflater.decompress(blob.data, limit + 1)
    ctx.uncompressed += len(data)
    if len(data) > limit or ctx.uncompressed > ctx.limits.max_total_uncompressed:
        ctx.fail(blob.location, OVER_SIZE)
        return
    if not _ratio_ok(ctx, len(data), len(blob.data)):
        ctx.fail(blob.location, RATIO)
        return
    base = blob.name.rpartition("/")[2]
    lowered = base.lower()
    inner = (
        base[:-3] if lowered.endswith(".gz") else base[:-4] if lowered.endswith(".tgz") else "data"
    )
    if lowered.endswith(".tgz"):
        inner += ".tar"
    _entry(ctx, data, inner or "data", f"{blob.location}/{inner or 'data'}", blob.depth + 1)


def read_tar(ctx: Context, blob: Blob) -> None:
    """Each regular file of a tar archive as its own location."""
    if not _nested_ok(ctx, blob):
        return
    with tarfile.open(fileobj=BytesIO(blob.data), mode="r:") as tar:
        members: list[tarfile.TarInfo] = []
        for member in tar:
            if len(members) >= ctx.limits.max_archive_entries:
                ctx.fail(blob.location, TOO_MANY)
                return
            if member.isfile():
                members.append(member)
        for member in members:
            location = f"{blob.location}/{member.name}"
            if member.size > ctx.limits.max_part_bytes:
                ctx.fail(location, OVER_SIZE)
                continue
            source = tar.extractfile(member)
            data = _stream(
                ctx, BytesIO(source.read()) if source else BytesIO(), member.size, location
            )
            if data is not None:
                _entry(ctx, data, member.name, location, blob.depth + 1)
