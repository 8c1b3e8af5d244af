"""The built index of the register version in force, sealed on disk next to the store.

A restart loads it instead of parsing and indexing the register again: seconds
instead of minutes for a million cases (``kept_or_built``: load it, or build it and
keep it).  It is used only when it is exactly the
index of the version in force: its header names the register version, the SHA-256
of the register's text, the key format and the id of the hashing key, and every
chunk is sealed with the master key (``KeyRing.seal``) under a record id bound to
that header and to the chunk's place.  A file of another version or text, made with
another master key, edited, truncated or reordered is not used (``load`` says why)
and the index is built again and the file replaced.

File layout::

    b"gateway-index\\n" | header (JSON, one line) | number of chunks (8, big-endian)
    | each chunk: length (8, big-endian) | sealed bytes

The payload is the pickled ``Index`` (arrays, records, token sets, hashing key), as
the scan processes receive it: loading is reading and opening, with no re-encoding.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import structlog

from gateway.crypto import KeyRing, SealError
from gateway.match import keys as K

MAGIC = b"gateway-index\n"
CHUNK = 64 << 20  # plaintext bytes sealed at a time: memory stays one chunk above the index
_LENGTH = struct.Struct("!Q")
_PURPOSE = "register index hashing key"
_MAX_HEADER = 4096
log = structlog.get_logger("gateway.index")

#: builds a register version's index under a hashing key: (pickled index, cases)
Build = Callable[[bytes], Awaitable[tuple[bytes, int]]]


class Kept(NamedTuple):
    """A register version's pickled index, its number of cases, and where it came from."""

    pickled: bytes
    cases: int
    from_disk: bool


async def kept_or_built(
    version: int, text: str, keys: KeyRing, database: Path, build: Build
) -> Kept:
    """The index of register ``version`` (of ``text``) kept beside ``database`` if it
    is exactly that one; else ``build`` it under the master key's hashing key and keep
    it there, replacing what was (the gateway runs on if it cannot be written)."""
    path = index_path(database)
    digest = await asyncio.to_thread(register_digest, text)
    try:
        pickled, cases = await asyncio.to_thread(load, path, keys, version, digest)
    except Stale as why:
        log.info("building the index", version=version, reason=str(why))
    else:
        log.info("index loaded from disk", version=version, count=cases)
        return Kept(pickled, cases, True)
    started, key = time.monotonic(), hash_key(keys)
    pickled, cases = await build(key)
    log.info("index built", version=version, seconds=round(time.monotonic() - started, 2))
    try:
        await asyncio.to_thread(
            save, path, keys, Stamp(version, digest, cases, key_id(key)), pickled
        )
    except OSError as exc:
        log.warning("index not kept on disk", path=str(path), reason=exc.strerror)
    return Kept(pickled, cases, False)


def hash_key(keys: KeyRing) -> bytes:
    """The index hashing key of a master key (the same at every start)."""
    return keys.derive(_PURPOSE, K.KEY_BYTES)


def key_id(hash_key: bytes) -> str:
    """A hashing key's public id: which key, never the key."""
    return hashlib.sha256(b"index key id\x00" + hash_key).hexdigest()[:16]


def index_path(database: Path) -> Path:
    """Where the index of the store at ``database`` is kept: beside it."""
    return database.with_name(database.stem + ".index")


def register_digest(text: str) -> str:
    """SHA-256 of a register version's text: what the index was built from."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Stamp:
    """What a stored index was built from and how."""

    version: int
    digest: str
    cases: int
    key: str  # key_id of the hashing key
    format: int = K.FORMAT

    def line(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("ascii") + b"\n"

    def record_id(self, number: int, count: int) -> str:
        """A chunk's record id: bound to the whole header and to its place."""
        header = hashlib.sha256(self.line()).hexdigest()
        return f"register-index:{header}:{number}/{count}"


class Stale(Exception):
    """A stored index that must not be used; the message says why (no values)."""


def save(path: Path, keys: KeyRing, stamp: Stamp, pickled: bytes) -> None:
    """Seal ``pickled`` (an index of ``stamp``'s register) to ``path``, replacing what
    was there in one step: a crash leaves the old file or the new, never half."""
    count = max(1, -(-len(pickled) // CHUNK))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC + stamp.line() + _LENGTH.pack(count))
            view = memoryview(pickled)
            for number in range(count):
                chunk = view[number * CHUNK : (number + 1) * CHUNK]
                sealed = keys.seal(stamp.record_id(number, count), bytes(chunk))
                out.write(_LENGTH.pack(len(sealed)))
                out.write(sealed)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path, keys: KeyRing, version: int, digest: str) -> tuple[bytes, int]:
    """The pickled index stored for register ``version`` with text ``digest``, and its
    number of cases; ``Stale`` if there is none, or it is not exactly that one."""
    wanted = Stamp(version, digest, 0, key_id(hash_key(keys)))
    try:
        with path.open("rb") as stored:
            stamp = _header(stored.readline(len(MAGIC) + 1), stored.readline(_MAX_HEADER))
            if (stamp.version, stamp.digest) != (wanted.version, wanted.digest):
                raise Stale("built from another register version")
            if (stamp.format, stamp.key) != (wanted.format, wanted.key):
                raise Stale("built with another key or key format")
            return _open_chunks(stored, keys, stamp), stamp.cases
    except FileNotFoundError:
        raise Stale("no index stored") from None
    except OSError as exc:
        raise Stale(f"cannot read the stored index ({exc.strerror})") from None


def _header(magic: bytes, line: bytes) -> Stamp:
    if magic != MAGIC or not line.endswith(b"\n"):
        raise Stale("not a stored index")
    try:
        fields = json.loads(line)
        stamp = Stamp(**fields)
    except (ValueError, TypeError):
        raise Stale("not a stored index") from None
    if stamp.line() != line:
        raise Stale("not a stored index")
    return stamp


def _open_chunks(stored: BinaryIO, keys: KeyRing, stamp: Stamp) -> bytes:
    """Every chunk opened, in order; ``Stale`` if one is missing, moved or edited (a
    chunk's record id names its place and the count, so none opens elsewhere)."""
    count = _read_length(stored)
    opened: list[bytes] = []
    try:
        for number in range(count):
            sealed = stored.read(_read_length(stored))
            opened.append(keys.open(stamp.record_id(number, count), sealed))
    except SealError:
        raise Stale("the stored index does not open (edited, or another master key)") from None
    if not opened or stored.read(1):
        raise Stale("the stored index is not whole")
    return b"".join(opened)


def _read_length(stored: BinaryIO) -> int:
    head = stored.read(_LENGTH.size)
    if len(head) != _LENGTH.size:
        raise Stale("the stored index is not whole")
    length: int = _LENGTH.unpack(head)[0]
    return length
