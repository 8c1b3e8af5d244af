"""review: names and passwords -> users; console logins -> sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
recommendation).  A name that does not exist costs the same hash as a wrong password,
so timing does not tell which names exist.  After ``LOCK_AFTER`` failures in a row an
account is locked for a time that doubles with each further failure (up to
``LOCK_MAX_SECONDS``).  Optional TOTP second factor (RFC 6238, via pyotp); its secret is
sealed by the master key like every other secret in the store.

Names are unique after case folding and NFKC, and no two accounts share an address
(identity.py); each account has a random id, which approvals record.

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
from dataclasses import dataclass, replace

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.errors import ConfigError, LoginFailed, NotFound
from gateway.review import identity
from gateway.review.model import ROLES, Role, User
from gateway.store import Store

MIN_PASSWORD = 12
LOCK_AFTER = 5
LOCK_BASE_SECONDS = 30.0
LOCK_MAX_SECONDS = 900.0

# An account that signs in through the identity provider (sso.py) has, instead of a
# password hash, this prefix and a digest of the provider's issuer and subject: no
# password ever matches it (argon2 refuses it as a hash), and it ties the account to
# that one person at the provider.
SSO_PREFIX = "oidc:"
LOGIN_FAILED = "wrong name, password or code, or the account is locked or disabled for now"
_attempts: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_SELECT_USERS = (
    "SELECT name, email, roles, disabled, totp IS NOT NULL, uid,"
    " password_hash LIKE 'oidc:%' FROM users"  # SSO_PREFIX
)
CLASHING = (
    "this account shares its name or an address with another account: an admin must "
    "resolve that first (gateway user list)"
)


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


def _user(row: tuple[object, ...], aliases: tuple[str, ...]) -> User:
    roles = frozenset(Role(r) for r in str(row[2]).split(",") if r)
    return User(
        str(row[0]),
        str(row[1]),
        roles,
        bool(row[3]),
        bool(row[4]),
        str(row[5]),
        aliases,
        sso=bool(row[6]),
    )


async def add_user(
    store: Store,
    name: str,
    email: str,
    roles: frozenset[Role],
    password: str,
    aliases: tuple[str, ...] = (),
) -> User:
    """A new account with its mail address and the other addresses it sends from;
    ``ConfigError`` if its name or an address is another account's (``identity``)."""
    name = identity.clean_name(name)
    # The sender rule compares these with envelope senders.
    addresses = [identity.clean_address(a, name) for a in (email, *aliases)]
    password_hash = await asyncio.to_thread(hash_password, password)
    now = dt.datetime.now(dt.UTC).isoformat()
    uid = secrets.token_hex(16)
    async with store.transaction() as write:  # checked and written under one lock
        await store.serialise("users")  # the same lock on every node
        users = await _users(store)
        identity.refuse_name(users, name)
        identity.refuse_addresses(users, name, addresses)
        await write(
            "INSERT INTO users (name, email, roles, password_hash, created_at, uid)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (name, addresses[0], ",".join(sorted(roles)), password_hash, now, uid),
        )
        for alias in addresses[1:]:
            await write("INSERT INTO user_aliases VALUES (?, ?, ?)", (uid, alias, now))
    return await get_user(store, name)


async def _users(store: Store) -> list[User]:
    """Every account with its aliases, by name; no clash computed."""
    aliases: dict[str, list[str]] = {}
    for uid, address in await store.fetch_all(
        "SELECT uid, address FROM user_aliases ORDER BY added_at, address"
    ):
        aliases.setdefault(str(uid), []).append(str(address))
    rows = await store.fetch_all(_SELECT_USERS + " ORDER BY name")
    return [_user(tuple(row), tuple(aliases.get(str(row[5]), ()))) for row in rows]


async def list_users(store: Store) -> list[User]:
    """Every account, by name, each with why it may not log in (``clash``) if it shares
    a name or an address with another enabled account."""
    users = await _users(store)
    found = identity.clashes(users)
    return [replace(u, clash=found[u.id]) if u.id in found else u for u in users]


async def find_user(store: Store, name: str) -> User | None:
    """The account called exactly ``name`` (accounts are few: all are read, to see
    clashes)."""
    return next((u for u in await list_users(store) if u.name == name), None)


async def get_user(store: Store, name: str) -> User:
    user = await find_user(store, name)
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


async def set_disabled(store: Store, name: str, disabled: bool) -> None:
    """Disable (or enable) an account; a disabled account's sessions end at once.
    Enabling one that would share a name or address with an enabled account is refused."""
    user = await get_user(store, name)
    if not disabled and user.disabled:
        others = [u for u in await _users(store) if not u.disabled and u.id != user.id]
        identity.refuse_name(others, user.name)
        identity.refuse_addresses(others, user.name, user.addresses)
    if (
        await store.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
        != 1
    ):
        raise NotFound(f"no user {name!r}")
    if disabled:
        await store.execute('DELETE FROM sessions WHERE "user" = ?', (name,))


async def set_roles(store: Store, name: str, roles: frozenset[Role]) -> User:
    """New roles for ``name``: its sessions read them at their next request."""
    if not roles:
        raise ConfigError("give at least one role")
    changed = await store.execute(
        "UPDATE users SET roles = ? WHERE name = ?", (",".join(sorted(roles)), name)
    )
    if changed != 1:
        raise NotFound(f"no user {name!r}")
    return await get_user(store, name)


async def reset_totp(store: Store, name: str) -> None:
    """Remove the second factor (a lost phone) and end the account's sessions: whoever
    held one may have been the one who took the phone."""
    await set_totp(store, name, None)
    await store.execute('DELETE FROM sessions WHERE "user" = ?', (name,))


async def set_email(store: Store, name: str, address: str) -> None:
    """A new main address for ``name``; ``ConfigError`` if another account has it."""
    user = await get_user(store, name)
    email = identity.clean_address(address, name)
    async with store.transaction() as write:
        await store.serialise("users")
        users = await _users(store)
        identity.refuse_addresses(users, name, [email, *user.aliases], skip=user.id)
        await write("UPDATE users SET email = ? WHERE uid = ?", (email, user.id))


async def add_alias(store: Store, name: str, address: str) -> None:
    """Another address ``name`` sends from; ``ConfigError`` if it is already an address
    of this account or another."""
    user = await get_user(store, name)
    alias = identity.clean_address(address, name)
    now = dt.datetime.now(dt.UTC).isoformat()
    async with store.transaction() as write:
        await store.serialise("users")
        users = await _users(store)
        identity.refuse_addresses(users, name, [*user.addresses, alias], skip=user.id)
        await write("INSERT INTO user_aliases VALUES (?, ?, ?)", (user.id, alias, now))


async def remove_alias(store: Store, name: str, address: str) -> None:
    """``name`` no longer sends from ``address`` (compared in canonical form);
    ``NotFound`` if it is not one of its aliases."""
    user = await get_user(store, name)
    key = identity.address_key(address)
    gone = [a for a in user.aliases if identity.address_key(a) == key]
    if not gone:
        raise NotFound(f"user {name!r} has no such alias")
    async with store.transaction() as write:
        await store.serialise("users")
        for alias in gone:
            await write("DELETE FROM user_aliases WHERE uid = ? AND address = ?", (user.id, alias))


async def reset_password(store: Store, name: str, password: str) -> None:
    """A new password; unlocks the account and ends its sessions.  An account that signs
    in through the identity provider has none (a password would untie it)."""
    password_hash = await asyncio.to_thread(hash_password, password)
    changed = await store.execute(
        "UPDATE users SET password_hash = ?, failures = 0, locked_until = 0"
        " WHERE name = ? AND password_hash NOT LIKE 'oidc:%'",
        (password_hash, name),
    )
    if changed != 1 and await find_user(store, name) is not None:
        raise ConfigError(f"{name} signs in through the identity provider: no password")
    if changed != 1:
        raise NotFound(f"no user {name!r}")
    await store.execute('DELETE FROM sessions WHERE "user" = ?', (name,))


def new_totp(name: str) -> tuple[str, str]:
    """A fresh TOTP secret and its ``otpauth://`` URI, to show the user once."""
    secret = pyotp.random_base32()
    return secret, totp_uri(name, secret)


def totp_uri(name: str, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from a QR code): it holds the
    secret, so it is shown to its user and never logged."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="Safe-Address Gateway")


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
        user = await _authenticate(store, name, password, code)
    if user.clash:  # told only after the right password: it gives no name away
        raise LoginFailed(CLASHING)
    return user


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
        'SELECT "user", csrf, created, seen FROM sessions WHERE token_hash = ?', (key,)
    )
    if row is None:
        return None
    user = await find_user(store, row[0])
    expired = now - row[3] > idle or now - row[2] > lifetime
    if user is None or user.disabled or user.clash or expired:
        await store.execute("DELETE FROM sessions WHERE token_hash = ?", (key,))
        return None
    await store.execute("UPDATE sessions SET seen = ? WHERE token_hash = ?", (now, key))
    return Session(user, str(row[1]), float(row[2]))


async def end_session(store: Store, token: str) -> None:
    await store.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))
