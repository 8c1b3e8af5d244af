"""review: a person the identity provider vouched for -> a console account, made or updated.

An account that signs in through the provider is tied to the provider's issuer and
subject (the ``sub`` claim, stable for that person at that provider): its password hash
column holds ``oidc:`` and a digest of the two instead (``accounts.SSO_PREFIX``), so no
password opens it and no other person at the provider can take it over by sharing a
display name.  Its roles are the ones the provider's groups map to (``oidc_group_roles``),
set again at every sign-in; an admin's change lasts until then.  A new person gets an
account at the first sign-in, named from a claim (``preferred_username`` by default;
the part before an ``@``), unless a local account already has that name or address: an
admin must resolve that.  A disabled account stays disabled whatever the provider says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.errors import ConfigError, LoginFailed
from gateway.review import accounts, identity
from gateway.review.accounts import SSO_PREFIX
from gateway.review.model import Role, User
from gateway.store import Store

NO_ROLE = (
    "Your groups at the identity provider give you no role in this console; ask an admin "
    "to add you to one of its groups."
)


@dataclass(frozen=True)
class SignIn:
    """The account a sign-in ends in, and what it changed (for the audit log)."""

    user: User
    created: bool = False
    roles_before: frozenset[Role] | None = None  # set when the groups changed the roles


def link(issuer: str, subject: str) -> str:
    """What the account keeps of the provider's person: a digest, not the subject."""
    digest = hashlib.sha256(f"{issuer}\0{subject}".encode()).hexdigest()
    return SSO_PREFIX + digest


def roles_for(groups: Iterable[str], group_roles: Mapping[str, Iterable[str]]) -> frozenset[Role]:
    """The roles ``groups`` map to (a group no mapping names gives none)."""
    return frozenset(Role(r) for g in groups for r in group_roles.get(g, ()))


TOO_MANY_GROUPS = (
    "Your account is in more groups than the identity provider puts in a sign-in, so "
    "the console cannot see your role; ask an admin to have the provider send only the "
    "groups assigned to this application."
)


def claimed_groups(claims: Mapping[str, object], claim: str) -> tuple[str, ...]:
    """The claim's groups: a list of names, or one name (``hd`` for Google Workspace).
    ``LoginFailed`` when the provider left them out as too many: Entra ID's "overage"
    (over 200 groups) names the claim in ``_claim_names`` and sends none."""
    value = claims.get(claim)
    overage = claims.get("_claim_names")
    if value is None and isinstance(overage, dict) and claim in overage:
        raise LoginFailed(TOO_MANY_GROUPS)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def account_name(claims: Mapping[str, object], claim: str) -> str:
    """The account name for ``claims``: the claim's value, before any ``@``."""
    value = claims.get(claim) or claims.get("email")
    if not isinstance(value, str) or not value.strip():
        raise LoginFailed(f"The identity provider sent no {claim!r}: ask an admin.")
    try:
        return identity.clean_name(value.strip().split("@", 1)[0])
    except ConfigError as exc:
        raise LoginFailed(f"Your provider name cannot name an account: {exc}") from exc


def account_email(claims: Mapping[str, object], username_claim: str) -> str:
    """The mail address the account sends from (the sender rule compares it)."""
    for value in (claims.get("email"), claims.get(username_claim), claims.get("upn")):
        if isinstance(value, str) and "@" in value:
            return value
    raise LoginFailed("The identity provider sent no mail address: ask an admin.")


async def sign_in(
    store: Store,
    issuer: str,
    subject: str,
    claims: Mapping[str, object],
    roles: frozenset[Role],
    username_claim: str,
) -> SignIn:
    """The account of the provider's person, made at the first sign-in, its roles set
    from ``roles``; ``LoginFailed`` if it is disabled, has no role, or would take a local
    account's name or address."""
    if not roles:
        raise LoginFailed(NO_ROLE)
    tie = link(issuer, subject)
    row = await store.fetch_one("SELECT name FROM users WHERE password_hash = ?", (tie,))
    if row is not None:
        user = await accounts.get_user(store, str(row[0]))
        if user.disabled or user.clash:
            raise LoginFailed(accounts.LOGIN_FAILED)
        if user.roles == roles:
            return SignIn(user)
        updated = await accounts.set_roles(store, user.name, roles)
        return SignIn(updated, roles_before=user.roles)
    name = account_name(claims, username_claim)
    address = account_email(claims, username_claim)
    now, uid = dt.datetime.now(dt.UTC).isoformat(), secrets.token_hex(16)
    try:
        email = identity.clean_address(address, name)
        async with store.transaction() as write:
            await store.serialise("users")
            users = await accounts.list_users(store)
            identity.refuse_name(users, name)
            identity.refuse_addresses(users, name, [email])
            await write(
                "INSERT INTO users (name, email, roles, password_hash, created_at, uid)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, email, ",".join(sorted(roles)), tie, now, uid),
            )
    except ConfigError as exc:
        raise LoginFailed(  # which account is in the way is for the admin, not said here
            "An account with your name or mail address exists already; ask an admin."
        ) from exc
    return SignIn(await accounts.get_user(store, name), created=True)
