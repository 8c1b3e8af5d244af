"""The index sealed on disk: it round-trips, and only ever as exactly what it claims."""

import asyncio
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.match import Index, build_index, stored
from gateway.match import keys as K
from gateway.register.model import Case, ProtectedPerson

TEXT = "version: 1\ncases: [...]\n"
DIGEST = stored.register_digest(TEXT)


@pytest.fixture(autouse=True)
def _restore_key() -> Iterator[None]:
    """The tests hash under the stores' keys; the other tests keep theirs."""
    before = K.current_key()
    yield
    K.use_key(before)


def _ring(seed: int = 1) -> KeyRing:
    return KeyRing(bytes([seed]) * 32)


def _pickled(ring: KeyRing) -> bytes:
    K.use_key(stored.hash_key(ring))
    cases = [
        Case(id=f"C-{n}", protected=[ProtectedPerson(name="Sarah Whitmore")]) for n in range(3)
    ]
    return pickle.dumps(build_index(cases), pickle.HIGHEST_PROTOCOL)


def _save(path: Path, ring: KeyRing, version: int = 4, digest: str = DIGEST) -> bytes:
    pickled = _pickled(ring)
    key = stored.key_id(stored.hash_key(ring))
    stored.save(path, ring, stored.Stamp(version, digest, 3, key), pickled)
    return pickled


def test_a_stored_index_loads_as_it_was_saved(tmp_path: Path) -> None:
    """The same bytes and case count come back, and the index finds what it did."""
    path, ring = tmp_path / "gateway.index", _ring()
    pickled = _save(path, ring)
    assert (pickled, 3) == stored.load(path, ring, 4, DIGEST)
    index: Index = pickle.loads(pickled)  # noqa: S301 - made by this test
    assert 3 == len(index.lookup([K.name_key("sarah", "whitmore")])[0])
    assert 0o600 == path.stat().st_mode & 0o777


def test_the_file_holds_no_register_value(tmp_path: Path) -> None:
    """The file is sealed: no name from the register is readable in it."""
    path = tmp_path / "gateway.index"
    _save(path, _ring())
    assert b"whitmore" not in path.read_bytes().lower()


def test_an_index_of_another_version_or_text_is_not_used(tmp_path: Path) -> None:
    """A file built from another register version, or another text, is stale."""
    path, ring = tmp_path / "gateway.index", _ring()
    _save(path, ring)
    with pytest.raises(stored.Stale, match="another register version"):
        stored.load(path, ring, 5, DIGEST)
    with pytest.raises(stored.Stale, match="another register version"):
        stored.load(path, ring, 4, stored.register_digest(TEXT + "# edited\n"))


def test_an_index_sealed_with_another_master_key_is_not_used(tmp_path: Path) -> None:
    """Another master key means another hashing key and a seal that does not open."""
    path = tmp_path / "gateway.index"
    _save(path, _ring(1))
    with pytest.raises(stored.Stale, match="another key"):
        stored.load(path, _ring(2), 4, DIGEST)


@pytest.mark.parametrize("where", [0.3, 0.6, 0.99])
def test_an_edited_byte_anywhere_in_the_body_is_caught(tmp_path: Path, where: float) -> None:
    """One flipped byte in a sealed chunk: the file does not open."""
    path, ring = tmp_path / "gateway.index", _ring()
    _save(path, ring)
    data = bytearray(path.read_bytes())
    body = data.index(b"\n", len(stored.MAGIC)) + 1
    at = body + int((len(data) - body) * where)
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(stored.Stale):
        stored.load(path, ring, 4, DIGEST)


def test_an_edited_header_is_caught(tmp_path: Path) -> None:
    """A header changed to claim another case count no longer matches its chunks."""
    path, ring = tmp_path / "gateway.index", _ring()
    _save(path, ring)
    data = path.read_bytes().replace(b'"cases": 3', b'"cases": 9', 1)
    path.write_bytes(data)
    with pytest.raises(stored.Stale, match="does not open"):
        stored.load(path, ring, 4, DIGEST)


def test_chunks_cut_short_or_reordered_are_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With many chunks, a missing last chunk or two swapped chunks do not open."""
    monkeypatch.setattr(stored, "CHUNK", 256)
    path, ring = tmp_path / "gateway.index", _ring()
    _save(path, ring)
    whole = path.read_bytes()
    path.write_bytes(whole[:-300])
    with pytest.raises(stored.Stale):
        stored.load(path, ring, 4, DIGEST)
    head_end = whole.index(b"\n", len(stored.MAGIC)) + 1 + 8
    chunks, at = [], head_end
    while at < len(whole):
        size = int.from_bytes(whole[at : at + 8], "big")
        chunks.append(whole[at : at + 8 + size])
        at += 8 + size
    assert len(chunks) > 2
    chunks[0], chunks[1] = chunks[1], chunks[0]
    path.write_bytes(whole[:head_end] + b"".join(chunks))
    with pytest.raises(stored.Stale, match="does not open"):
        stored.load(path, ring, 4, DIGEST)


def test_no_file_or_not_an_index_is_stale(tmp_path: Path) -> None:
    """A missing file, or any other file in its place, is reported, never loaded."""
    path, ring = tmp_path / "gateway.index", _ring()
    with pytest.raises(stored.Stale, match="no index stored"):
        stored.load(path, ring, 4, DIGEST)
    path.write_bytes(os.urandom(200))
    with pytest.raises(stored.Stale, match="not a stored index"):
        stored.load(path, ring, 4, DIGEST)


def test_saving_again_replaces_the_file_whole(tmp_path: Path) -> None:
    """A newer version's index replaces the old one; no temporary file is left."""
    path, ring = tmp_path / "gateway.index", _ring()
    _save(path, ring, version=4)
    _save(path, ring, version=5)
    assert [path.name] == [p.name for p in tmp_path.iterdir()]
    with pytest.raises(stored.Stale):
        stored.load(path, ring, 4, DIGEST)
    assert 3 == stored.load(path, ring, 5, DIGEST)[1]


def test_the_index_lives_beside_the_database() -> None:
    """``data/gateway.sqlite3`` keeps its index in ``data/gateway.index``."""
    assert Path("data/gateway.index") == stored.index_path(Path("data/gateway.sqlite3"))


def test_an_index_that_cannot_be_kept_is_still_used_and_built_again_next_time(
    tmp_path: Path,
) -> None:
    """No folder to keep it in: the built index is returned all the same, and the next
    load builds it again rather than fail."""
    ring, builds = _ring(), []

    async def build(key: bytes) -> tuple[bytes, int]:
        builds.append(key)
        return b"pickled index", 3

    database = tmp_path / "missing" / "gateway.sqlite3"
    for _ in range(2):
        kept = asyncio.run(stored.kept_or_built(4, TEXT, ring, database, build))
        assert stored.Kept(b"pickled index", 3, False) == kept
    assert [stored.hash_key(ring)] * 2 == builds


def test_a_kept_index_is_loaded_instead_of_built(tmp_path: Path) -> None:
    """The second load of the same version reads the file; the build runs once."""
    ring, builds = _ring(), []

    async def build(key: bytes) -> tuple[bytes, int]:
        builds.append(key)
        return b"pickled index", 3

    database = tmp_path / "gateway.sqlite3"
    first = asyncio.run(stored.kept_or_built(4, TEXT, ring, database, build))
    second = asyncio.run(stored.kept_or_built(4, TEXT, ring, database, build))
    assert (False, True) == (first.from_disk, second.from_disk)
    assert (b"pickled index", 3) == second[:2]
    assert 1 == len(builds)
