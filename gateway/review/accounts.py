"""review: names and passwords -> users; console logins -> sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
recommendation).  A name that does not exist costs the same hash as a wrong password,
so timing does not tell which names exist.  After ``LOCK_AFTER`` failures in a row an
account is locked for a time that doubles with each further failure (up to
``LOCK_MAX_SECONDS``).  Optional TOTP second factor (RFC 6238, via pyotp); its secret is
sealed by the master key like every other secret in the store.

Console sessions are random tokens; the store keeps only their SHA-256, with a CSRF
token, the start time (absolute timeout) and the last use (idle timeout).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import time
import weakref
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.errors import ConfigError, LoginFailed, NotFound
from gateway.review.model import ROLES, Role, User
from gateway.store import Store

MIN_PASSWORD = 12
LOCK_AFTER = 5
LOCK_BASE_SECONDS = 30.0
LOCK_MAX_SECONDS = 900.0

LOGIN_FAILED = "wrong name, password or code, or the account is locked or disabled for now"
_attempts: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_SELECT_USERS = "SELECT name, email, roles, disabled, totp IS NOT NULL FROM users"


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``; ``ConfigError`` if it is too short."""
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def parse_roles(text: str) -> frozenset[Role]:
    """``reviewer,senior`` -> roles; ``ConfigError`` naming an unknown one."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in ROLES]
    if unknown or not names:
        raise ConfigError(
            f"unknown role {unknown[0]!r} (roles: {', '.join(ROLES)})"
            if unknown
            else "give at least one role"
        )
    return frozenset(Role(name) for name in names)


def _verify(stored_hash: str, password: str) -> bool:
    """argon2id takes tens of milliseconds on purpose: run it off the event loop."""
    try:
        return bool(_hasher.verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _user(row: tuple[object, ...]) -> User:
    roles = frozenset(Role(r) for r in str(row[2]).split(",") if r)
    return User(str(row[0]), str(row[1]), roles, bool(row[3]), bool(row[4]))


async def add_user(
    store: Store, name: str, email: str, roles: frozenset[Role], password: str
) -> User:
    """A new account; ``ConfigError`` if the name is taken."""
    if not name or not name.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise ConfigError(f"user name {name!r}: use letters, digits, '.', '-' or '_'")
    if await find_user(store, name) is not None:
        raise ConfigError(f"user {name!r} already exists")
    if "@" not in email.strip()[1:-1]:  # the sender rule compares it with envelope senders
        raise ConfigError(f"user {name!r}: give the mail address they send from")
    password_hash = await asyncio.to_thread(hash_password, password)
    await store.execute(
        "INSERT INTO users (name, email, roles, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        (
            name,
            email.strip().lower(),
            ",".join(sorted(roles)),
            password_hash,
            dt.datetime.now(dt.UTC).isoformat(),
        ),
    )
    return await get_user(store, name)


async def find_user(store: Store, name: str) -> User | None:
    row = await store.fetch_one(_SELECT_USERS + " WHERE name = ?", (name,))
    return None if row is None else _user(tuple(row))


async def get_user(store: Store, name: str) -> User:
    user = await find_user(store, name)
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


async def list_users(store: Store) -> list[User]:
    rows = await store.fetch_all(_SELECT_USERS + " ORDER BY name")
    return [_user(tuple(row)) for row in rows]


async def set_disabled(store: Store, name: str, disabled: bool) -> None:
    """Disable (or enable) an account; a disabled account's sessions end at once."""
    if (
        await store.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
        != 1
    ):
        raise NotFound(f"no user {name!r}")
    if disabled:
        await store.execute("DELETE FROM sessions WHERE user = ?", (name,))


async def reset_password(store: Store, name: str, password: str) -> None:
    """A new password; unlocks the account and ends its sessions."""
    password_hash = await asyncio.to_thread(hash_password, password)
    changed = await store.execute(
        "UPDATE users SET password_hash = ?, failures = 0, locked_until = 0 WHERE name = ?",
        (password_hash, name),
    )
    if changed != 1:
        raise NotFound(f"no user {name!r}")
    await store.execute("DELETE FROM sessions WHERE user = ?", (name,))


def new_totp(name: str) -> tuple[str, str]:
    """A fresh TOTP secret and its ``otpauth://`` URI, to show the user once."""
    secret = pyotp.random_base32()
    return secret, pyotp.TOTP(secret).provisioning_uri(
        name=name, issuer_name="Safe-Address Gateway"
    )


def totp_code_matches(secret: str, code: str) -> bool:
    """The code the user's app shows now (or one step either side) for ``secret``."""
    try:
        return bool(pyotp.TOTP(secret).verify(code.strip(), valid_window=1))
    except (ValueError, TypeError):  # not a base32 secret
        return False


async def set_totp(store: Store, name: str, secret: str | None) -> None:
    """Turn the second factor on with ``secret`` (sealed), or off with None."""
    sealed = None if secret is None else store.keys.seal(f"totp:{name}", secret.encode("ascii"))
    if await store.execute("UPDATE users SET totp = ? WHERE name = ?", (sealed, name)) != 1:
        raise NotFound(f"no user {name!r}")


async def enrol_totp(store: Store, name: str) -> str:
    """Give the account a new TOTP secret; the ``otpauth://`` URI to show the user once."""
    secret, uri = new_totp(name)
    await set_totp(store, name, secret)
    return uri


async def change_password(
    store: Store, name: str, current: str, code: str, new: str, again: str
) -> None:
    """The user's own change: the current password (and code) first, the new one twice."""
    await authenticate(store, name, current, code)
    if new != again:
        raise ConfigError("the two new passwords differ")
    await reset_password(store, name, new)


async def authenticate(store: Store, name: str, password: str, code: str = "") -> User:
    """The user, if the password (and TOTP code, when enrolled) are right and the
    account is enabled and not locked; otherwise ``LoginFailed`` with one fixed text
    (which does not tell whether the name exists).  Attempts on one account are checked
    one at a time, so parallel guesses each count towards the lock."""
    lock = _attempts.setdefault(name, asyncio.Lock()) if await find_user(store, name) else None
    if lock is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)  # the same cost
        raise LoginFailed(LOGIN_FAILED)
    async with lock:
        return await _authenticate(store, name, password, code)


async def _authenticate(store: Store, name: str, password: str, code: str) -> User:
    row = await store.fetch_one(
        "SELECT password_hash, totp, disabled, failures, locked_until FROM users WHERE name = ?",
        (name,),
    )
    stored_hash = str(row[0]) if row else _DUMMY_HASH
    good = await asyncio.to_thread(_verify, stored_hash, password)
    if row is None or row[4] > time.time() or row[2]:
        raise LoginFailed(LOGIN_FAILED)
    if good and row[1] is not None:
        secret = store.keys.open(f"totp:{name}", row[1]).decode("ascii")
        good = totp_code_matches(secret, code)
    if not good:
        failures = int(row[3]) + 1
        lock = 0.0
        if failures >= LOCK_AFTER:
            lock = time.time() + min(
                LOCK_BASE_SECONDS * 2 ** (failures - LOCK_AFTER), LOCK_MAX_SECONDS
            )
        await store.execute(
            "UPDATE users SET failures = ?, locked_until = ? WHERE name = ?",
            (failures, lock, name),
        )
        raise LoginFailed(LOGIN_FAILED)
    if _hasher.check_needs_rehash(stored_hash):
        rehashed = await asyncio.to_thread(_hasher.hash, password)
        await store.execute("UPDATE users SET password_hash = ? WHERE name = ?", (rehashed, name))
    await store.execute("UPDATE users SET failures = 0, locked_until = 0 WHERE name = ?", (name,))
    return await get_user(store, name)


# -- console sessions -----------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A logged-in console session (the token itself is only in the browser's cookie)."""

    user: User
    csrf: str
    created: float


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def start_session(store: Store, user: User) -> tuple[str, Session]:
    """A new session id (never one the browser had before: no fixation) and its CSRF token."""
    token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
    await store.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
        (_token_hash(token), user.name, csrf, now, now),
    )
    return token, Session(user, csrf, now)


async def resume_session(store: Store, token: str, idle: float, lifetime: float) -> Session | None:
    """The session for ``token`` if it exists, is within both timeouts and its user is
    enabled; touches its last use.  Expired sessions are deleted."""
    if not token:
        return None
    key, now = _token_hash(token), time.time()
    row = await store.fetch_one(
        "SELECT user, csrf, created, seen FROM sessions WHERE token_hash = ?", (key,)
    )
    if row is None:
        return None
    user = await find_user(store, row[0])
    if user is None or user.disabled or now - row[3] > idle or now - row[2] > lifetime:
        await store.execute("DELETE FROM sessions WHERE token_hash = ?", (key,))
        return None
    await store.execute("UPDATE sessions SET seen = ? WHERE token_hash = ?", (now, key))
    return Session(user, str(row[1]), float(row[2]))


async def end_session(store: Store, token: str) -> None:
    await store.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))
