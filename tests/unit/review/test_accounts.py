"""Accounts and console sessions: argon2id, lockout, TOTP, timeouts, disabling."""

from __future__ import annotations

import asyncio
import time

import pyotp
import pytest

from gateway.errors import ConfigError, LoginFailed
from gateway.review import Role, User, accounts
from gateway.store import Store
from tests.store_support import stored_bytes

from .conftest import PASSWORD

pytestmark = pytest.mark.asyncio


async def test_passwords_are_stored_as_argon2id(store: Store, people: dict[str, User]) -> None:
    """Every stored hash is argon2id; the password itself is nowhere in the database."""
    rows = await store.fetch_all("SELECT password_hash FROM users")
    assert 6 == len(rows)
    assert all(str(row[0]).startswith("$argon2id$") for row in rows)
    assert PASSWORD.encode() not in stored_bytes(store)


async def test_short_passwords_and_unknown_roles_are_refused(store: Store) -> None:
    """Clear errors for a weak password or a misspelt role."""
    with pytest.raises(ConfigError, match="12 characters"):
        await accounts.add_user(store, "x", "x@example.org", frozenset({Role.REVIEWER}), "short")
    with pytest.raises(ConfigError, match="unknown role 'reviwer'"):
        accounts.parse_roles("reviwer,senior")


async def test_login_locks_after_repeated_failures(store: Store, people: dict[str, User]) -> None:
    """Five wrong passwords lock the account: then even the right one is refused."""
    assert "rita" == (await accounts.authenticate(store, "rita", PASSWORD)).name
    for _ in range(accounts.LOCK_AFTER):
        with pytest.raises(LoginFailed, match="wrong"):
            await accounts.authenticate(store, "rita", "not the password")
    with pytest.raises(LoginFailed, match="locked"):
        await accounts.authenticate(store, "rita", PASSWORD)
    await accounts.reset_password(store, "rita", "a brand new password")
    assert "rita" == (await accounts.authenticate(store, "rita", "a brand new password")).name


async def test_unknown_names_and_disabled_accounts_fail(
    store: Store, people: dict[str, User]
) -> None:
    """No such user, or a disabled one: LoginFailed, and a disabled user's sessions end."""
    with pytest.raises(LoginFailed, match="wrong"):
        await accounts.authenticate(store, "nobody", PASSWORD)
    token, _ = await accounts.start_session(store, people["rob"])
    await accounts.set_disabled(store, "rob", True)
    with pytest.raises(LoginFailed, match="disabled"):
        await accounts.authenticate(store, "rob", PASSWORD)
    assert await accounts.resume_session(store, token, 60, 3600) is None


async def test_totp_is_required_once_enrolled(store: Store, people: dict[str, User]) -> None:
    """With a second factor the password alone fails; password and current code pass."""
    uri = await accounts.enrol_totp(store, "sue")
    secret = pyotp.parse_uri(uri).secret
    with pytest.raises(LoginFailed):
        await accounts.authenticate(store, "sue", PASSWORD, "")
    user = await accounts.authenticate(store, "sue", PASSWORD, pyotp.TOTP(secret).now())
    assert user.has_totp
    row = await store.fetch_one("SELECT totp FROM users WHERE name = 'sue'")
    assert row is not None
    assert secret.encode() not in row[0]


async def test_sessions_end_after_idle_and_absolute_timeouts(
    store: Store, people: dict[str, User]
) -> None:
    """A session is found while fresh, and gone after either timeout; tokens are hashed."""
    token, session = await accounts.start_session(store, people["rita"])
    resumed = await accounts.resume_session(store, token, idle=60, lifetime=3600)
    assert resumed is not None
    assert (session.csrf, "rita") == (resumed.csrf, resumed.user.name)
    assert token.encode() not in stored_bytes(store)
    await store.execute("UPDATE sessions SET seen = ?", (time.time() - 120,))
    assert await accounts.resume_session(store, token, idle=60, lifetime=3600) is None
    token, _ = await accounts.start_session(store, people["rita"])
    await store.execute("UPDATE sessions SET created = ?", (time.time() - 7200,))
    assert await accounts.resume_session(store, token, idle=60, lifetime=3600) is None
    token, _ = await accounts.start_session(store, people["rita"])
    await accounts.end_session(store, token)
    assert await accounts.resume_session(store, token, idle=60, lifetime=3600) is None


async def test_parallel_guesses_each_count_towards_the_lock(
    store: Store, people: dict[str, User]
) -> None:
    """Twenty wrong passwords at once: at most the first five are checked, the account
    ends locked, and the right password is refused too."""
    guesses = [accounts.authenticate(store, "rita", f"guess {n}") for n in range(20)]
    results = await asyncio.gather(*guesses, return_exceptions=True)
    assert all(isinstance(r, LoginFailed) for r in results)
    row = await store.fetch_one("SELECT failures, locked_until FROM users WHERE name = 'rita'")
    assert row is not None
    assert accounts.LOCK_AFTER == row[0]
    assert row[1] > time.time()
    with pytest.raises(LoginFailed):
        await accounts.authenticate(store, "rita", PASSWORD)
