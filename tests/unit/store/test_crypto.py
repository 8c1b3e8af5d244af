"""Sealing with the master key: round trips, tamper evidence, rotation, the key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.crypto import KeyRing, SealError
from gateway.errors import ConfigError

SECRET = b"Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    """A fresh master key in a temporary folder."""
    return KeyRing.generate(tmp_path / "master.key")


def test_seal_then_open_gives_the_plaintext_back(keys: KeyRing) -> None:
    """What is sealed for a record opens for the same record."""
    assert SECRET == keys.open("Q1", keys.seal("Q1", SECRET))


def test_the_sealed_blob_does_not_contain_the_plaintext(keys: KeyRing) -> None:
    """The blob starts with the format byte and the key id, and hides the text."""
    blob = keys.seal("Q1", SECRET)
    assert SECRET not in blob
    assert bytes([1]) + keys.id == blob[:9]


def test_every_seal_uses_a_fresh_data_key_and_nonce(keys: KeyRing) -> None:
    """Sealing the same text twice gives two different blobs."""
    assert keys.seal("Q1", SECRET) != keys.seal("Q1", SECRET)


def test_a_blob_does_not_open_for_another_record(keys: KeyRing) -> None:
    """The record id is bound as associated data."""
    with pytest.raises(SealError):
        keys.open("Q2", keys.seal("Q1", SECRET))


@pytest.mark.parametrize("position", [0, 5, 20, 60, 90, -1])
def test_a_flipped_byte_anywhere_is_detected(keys: KeyRing, position: int) -> None:
    """Header, wrapped key, nonce or ciphertext: any change makes the blob fail to open."""
    blob = bytearray(keys.seal("Q1", SECRET))
    blob[position] ^= 0x01
    with pytest.raises(SealError):
        keys.open("Q1", bytes(blob))


def test_a_truncated_blob_is_refused(keys: KeyRing) -> None:
    """A blob too short to be sealed data is a SealError, not an index error."""
    with pytest.raises(SealError):
        keys.open("Q1", keys.seal("Q1", SECRET)[:40])


def test_another_key_cannot_open_a_blob(keys: KeyRing, tmp_path: Path) -> None:
    """A blob sealed under one master key does not open under another."""
    other = KeyRing.generate(tmp_path / "other.key")
    with pytest.raises(SealError, match="another master key"):
        other.open("Q1", keys.seal("Q1", SECRET))


def test_rewrap_moves_a_blob_to_the_new_key(keys: KeyRing, tmp_path: Path) -> None:
    """After a rewrap the new key opens the blob and the old one no longer does."""
    new = KeyRing.generate(tmp_path / "new.key")
    blob = keys.seal("Q1", SECRET)
    rewrapped = keys.rewrap("Q1", blob, new)
    assert SECRET == new.open("Q1", rewrapped)
    assert blob[-len(SECRET) - 16 :] == rewrapped[-len(SECRET) - 16 :]
    with pytest.raises(SealError):
        keys.open("Q1", rewrapped)


def test_rewrap_refuses_a_blob_of_another_record(keys: KeyRing, tmp_path: Path) -> None:
    """Rewrapping checks the record id like opening does."""
    new = KeyRing.generate(tmp_path / "new.key")
    with pytest.raises(SealError):
        keys.rewrap("Q2", keys.seal("Q1", SECRET), new)


def test_the_key_file_is_private_and_loads_again(keys: KeyRing) -> None:
    """The key file has mode 0600 and loads as the same key."""
    assert keys.path is not None
    assert 0o600 == stat.S_IMODE(keys.path.stat().st_mode)
    assert keys.id == KeyRing.load(keys.path).id
    assert [keys.path.name] == [p.name for p in keys.path.parent.iterdir()]


def test_generate_refuses_to_overwrite_a_key_file(keys: KeyRing) -> None:
    """A second keygen on the same path fails and leaves the first key as it was."""
    assert keys.path is not None
    before = keys.path.read_bytes()
    with pytest.raises(ConfigError, match="exists"):
        KeyRing.generate(keys.path)
    assert before == keys.path.read_bytes()


def test_load_names_a_missing_key_file(tmp_path: Path) -> None:
    """A missing key file is a ConfigError that names the file."""
    path = tmp_path / "missing.key"
    with pytest.raises(ConfigError, match=str(path)):
        KeyRing.load(path)


def test_load_refuses_a_key_file_of_the_wrong_size(tmp_path: Path) -> None:
    """A file that is not 32 bytes is not a master key."""
    path = tmp_path / "short.key"
    path.write_bytes(b"too short")
    with pytest.raises(ConfigError, match="not a master key"):
        KeyRing.load(path)


def test_ensure_makes_a_key_once(tmp_path: Path) -> None:
    """The first ensure creates the key, the second loads the same one."""
    path = tmp_path / "sub" / "master.key"
    first, created = KeyRing.ensure(path)
    again, created_again = KeyRing.ensure(path)
    assert (True, False) == (created, created_again)
    assert first.id == again.id


def test_no_key_material_in_repr_or_str(keys: KeyRing) -> None:
    """repr and str show the key id and path, never the key bytes."""
    assert keys.path is not None
    key = keys.path.read_bytes()
    for text in (repr(keys), str(keys), f"{keys}"):
        assert key.hex() not in text
        assert repr(key) not in text
        assert keys.id.hex() in text


def test_a_derived_key_is_stable_and_tied_to_its_master_key_and_purpose() -> None:
    """The same master key and purpose give the same sub-key; another of either does not."""
    one, other = KeyRing(bytes(32)), KeyRing(bytes([7]) * 32)
    assert one.derive("index") == KeyRing(bytes(32)).derive("index")
    assert 16 == len(one.derive("index", 16))
    assert one.derive("index") != other.derive("index")
    assert one.derive("index") != one.derive("other")
    assert bytes(32) != one.derive("index")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o700])
def test_a_key_file_open_to_group_or_others_is_refused_unless_allowed(
    keys: KeyRing, mode: int
) -> None:
    """Any group or other permission bit: refused with the fix; the setting allows it;
    the owner's own bits (0700) are not the concern."""
    assert keys.path is not None
    keys.path.chmod(mode)
    if mode & 0o077:
        with pytest.raises(ConfigError, match=f"chmod 600 {keys.path}"):
            KeyRing.load(keys.path)
    else:
        assert keys.id == KeyRing.load(keys.path).id
    assert keys.id == KeyRing.load(keys.path, allow_insecure=True).id


def test_a_store_without_its_key_file_never_gets_a_new_key(tmp_path: Path) -> None:
    """``for_store``: the store exists, its key does not: refused, and no key made."""
    database = tmp_path / "gateway.sqlite3"
    database.write_bytes(b"")
    with pytest.raises(ConfigError, match="a new key would not open the store"):
        KeyRing.for_store(tmp_path / "master.key", database)
    assert not (tmp_path / "master.key").exists()
    _made, created = KeyRing.for_store(tmp_path / "other" / "master.key", tmp_path / "none.db")
    assert created
