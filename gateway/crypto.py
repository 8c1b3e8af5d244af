"""Master key file -> ``KeyRing``; plaintext + record id -> sealed blob, and back.

Envelope encryption: every ``seal`` draws a fresh 256-bit data key, encrypts the
plaintext under it with AES-GCM, and wraps the data key under the master key, also with
AES-GCM.  Both use the record id as associated data, so a blob moved to another record
does not open.  Rotating the master key (``rewrap``) re-encrypts only the 32-byte data
key, never the payload.

Blob layout (all lengths in bytes)::

    format (1) | master key id (8) | wrap nonce (12) | wrapped data key (48)
    | data nonce (12) | ciphertext + tag (n + 16)

The master key id is the first 8 bytes of SHA-256 of the key: it says which key
sealed a blob without revealing anything about the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import ConfigError, GatewayError

KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_V1 = 1

_WRAPPED = KEY_BYTES + TAG_BYTES
_HEADER = 1 + KEY_ID_BYTES + NONCE_BYTES + _WRAPPED
_MIN_BLOB = _HEADER + NONCE_BYTES + TAG_BYTES


class SealError(GatewayError):
    """A sealed blob that does not open: tampered, moved to another record, or another key."""


def key_id(key: bytes) -> bytes:
    """The public id of a master key: the first 8 bytes of its SHA-256."""
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


class KeyRing:
    """One master key, loaded from a key file; never shows the key in repr or str."""

    __slots__ = ("_aead", "_key", "id", "path")

    def __init__(self, key: bytes, path: Path | None = None) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"{path or 'master key'}: a master key is {KEY_BYTES} bytes")
        self._key = key
        self._aead = AESGCM(key)
        self.id = key_id(key)
        self.path = path

    def __repr__(self) -> str:
        return f"KeyRing(id={self.id.hex()}, path={str(self.path)!r})"

    __str__ = __repr__

    @classmethod
    def generate(cls, path: Path) -> KeyRing:
        """Write 32 random bytes to ``path`` (mode 0600, atomically); refuse to overwrite."""
        key = secrets.token_bytes(KEY_BYTES)
        try:
            _write_new(path, key)
        except FileExistsError:
            raise ConfigError(f"{path}: a key file exists already; not overwriting it") from None
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(f"{path}: cannot write master key ({reason})") from None
        return cls(key, path)

    @classmethod
    def load(cls, path: Path, *, allow_insecure: bool = False) -> KeyRing:
        """Read a key file; a ``ConfigError`` naming the file if it cannot be used, or if
        group or others may read or write it (unless ``allow_insecure``)."""
        try:
            key = path.read_bytes()
            mode = path.stat().st_mode
        except FileNotFoundError:
            hint = "make one with `gateway keygen`"
            raise ConfigError(f"{path}: no master key file ({hint})") from None
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(f"{path}: cannot read master key ({reason})") from None
        if len(key) != KEY_BYTES:
            raise ConfigError(f"{path}: not a master key (expected {KEY_BYTES} bytes)")
        if mode & 0o077 and not allow_insecure:
            raise ConfigError(
                f"{path}: the master key may be read or changed by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}` (the service "
                "user must own it), or set allow_insecure_key_permissions = true "
                "if a secrets mount gives it that mode"
            )
        return cls(key, path)

    @classmethod
    def ensure(cls, path: Path, *, allow_insecure: bool = False) -> tuple[KeyRing, bool]:
        """Load the key at ``path``, or make one there; the flag says it was made.  Only
        for a store not made yet: a store's key is never made anew (it would not open it)."""
        if path.exists():
            return cls.load(path, allow_insecure=allow_insecure), False
        try:
            return cls.generate(path), True
        except ConfigError:
            if path.exists():  # another process made it between the check and now
                return cls.load(path, allow_insecure=allow_insecure), False
            raise

    @classmethod
    def for_store(
        cls, path: Path, database: Path, *, allow_insecure: bool = False
    ) -> tuple[KeyRing, bool]:
        """The key of the store at ``database`` (``ensure``), made only when neither the
        key nor the store exists yet: a store without its key file is an error, never a
        reason for a new key (one that would not open it)."""
        if database.exists() and not path.exists():
            raise ConfigError(
                f"{path}: no master key file, but the store {database} exists: it was "
                "sealed with a key kept elsewhere; give its path with --key-file or "
                "GATEWAY_KEY_FILE (a new key would not open the store)"
            )
        return cls.ensure(path, allow_insecure=allow_insecure)

    def derive(self, purpose: str, size: int = KEY_BYTES) -> bytes:
        """A sub-key for ``purpose`` (HMAC-SHA256 of the master key): the same for the
        same master key, unrelated to it or to any other purpose's; a new master key
        (``rewrap``) gives new sub-keys."""
        if not 0 < size <= hashlib.sha256().digest_size:
            raise ValueError("a derived key is 1 to 32 bytes")
        message = b"gateway derived key\x00" + purpose.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()[:size]

    def seal(self, record_id: str, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for ``record_id`` under a fresh data key."""
        aad = record_id.encode("utf-8")
        data_key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
        data_nonce = os.urandom(NONCE_BYTES)
        body = AESGCM(data_key).encrypt(data_nonce, plaintext, aad)
        return self._wrap(record_id, data_key) + data_nonce + body

    def open(self, record_id: str, blob: bytes) -> bytes:
        """Decrypt a blob sealed for ``record_id``; ``SealError`` if it does not open."""
        data_key = self._unwrap(record_id, blob)
        data_nonce = blob[_HEADER : _HEADER + NONCE_BYTES]
        try:
            return AESGCM(data_key).decrypt(
                data_nonce, blob[_HEADER + NONCE_BYTES :], record_id.encode("utf-8")
            )
        except InvalidTag:
            raise SealError(f"record {record_id}: sealed data does not open (tampered)") from None

    def rewrap(self, record_id: str, blob: bytes, new: KeyRing) -> bytes:
        """The same blob with its data key wrapped by ``new`` instead of this key."""
        data_key = self._unwrap(record_id, blob)
        return new._wrap(record_id, data_key) + blob[_HEADER:]

    def _wrap(self, record_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        wrapped = self._aead.encrypt(nonce, data_key, record_id.encode("utf-8"))
        return bytes([FORMAT_V1]) + self.id + nonce + wrapped

    def _unwrap(self, record_id: str, blob: bytes) -> bytes:
        if len(blob) < _MIN_BLOB or blob[0] != FORMAT_V1:
            raise SealError(f"record {record_id}: not a sealed blob of a known format")
        if blob[1 : 1 + KEY_ID_BYTES] != self.id:
            sealed_by = blob[1 : 1 + KEY_ID_BYTES].hex()
            raise SealError(f"record {record_id}: sealed with another master key ({sealed_by})")
        nonce_at = 1 + KEY_ID_BYTES
        nonce = blob[nonce_at : nonce_at + NONCE_BYTES]
        try:
            return self._aead.decrypt(
                nonce, blob[nonce_at + NONCE_BYTES : _HEADER], record_id.encode("utf-8")
            )
        except InvalidTag:
            raise SealError(f"record {record_id}: sealed data does not open (tampered)") from None


def _write_new(path: Path, key: bytes) -> None:
    """Write ``key`` to a new file at ``path``: never a partial file, never an overwrite.

    The bytes go to a private temporary file first; ``os.link`` then gives it its name,
    which fails if the name exists, so two writers cannot both win.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(f"{path}: a key file exists already")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)  # the umask may not take bits away from 0600, but be sure
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
