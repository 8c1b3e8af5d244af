"""review: account names and addresses -> the forms they are compared in, and clashes.

Two accounts must never be one person's two hats.  Names are compared after NFKC and
case folding (``Reviewer1``, ``reviewer1`` and ``Reviewer1`` in fullwidth forms are
one name); addresses in the canonical form the matcher uses
(``register.normalise.canonical_email``: case, plus-tags, provider dots), so
``officer+x@council...`` is the officer's address.

New accounts, renamed addresses and aliases that would clash are refused.  A store made
before these rules may already hold clashing accounts: they stay (the store must open),
``clashes`` names them, and accounts.py keeps them from logging in or acting until an
admin disables one of each pair or changes its address.  Disabled accounts do not clash.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence

from gateway.errors import ConfigError
from gateway.register.normalise import canonical_email
from gateway.review.model import User


def name_key(name: str) -> str:
    """``Reviewer1`` (or in fullwidth forms) -> ``reviewer1``: NFKC, case folded, NFKC again (as
    Unicode's NFKC_Casefold, which folding can un-normalise)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def address_key(address: str) -> str:
    """``Officer+x@Council.example`` -> ``officer@council.example``."""
    return canonical_email(address)


def clean_name(name: str) -> str:
    """A new account's name in NFKC form; ``ConfigError`` if it has other than letters,
    digits, '.', '-' or '_'."""
    name = unicodedata.normalize("NFKC", name.strip())
    if not name or not name.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise ConfigError(f"user name {name!r}: use letters, digits, '.', '-' or '_'")
    return name


def clean_address(address: str, whose: str) -> str:
    """A mail address as stored (trimmed, lower case); ``ConfigError`` if it is none."""
    address = address.strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or any(c.isspace() or c == "," for c in address):
        raise ConfigError(f"user {whose!r}: give a mail address they send from")
    return address


def fingerprint(address: str) -> str:
    """What the audit log keeps of a staff address: a short digest of its canonical form."""
    return "sha256:" + hashlib.sha256(address_key(address).encode()).hexdigest()[:12]


def refuse_name(users: Iterable[User], name: str) -> None:
    """``ConfigError`` if ``name`` is one of ``users``' names (disabled ones too) when
    case and character forms are ignored."""
    for other in users:
        if name_key(other.name) == name_key(name):
            raise ConfigError(
                f"user name {name!r} is taken: account {other.name!r} has the same name"
                " when case and character forms are ignored"
            )


def refuse_addresses(
    users: Iterable[User], whose: str, addresses: Sequence[str], skip: str = ""
) -> None:
    """``ConfigError`` if ``addresses`` repeat one another, or one is an address of an
    account in ``users`` (disabled ones too) other than the one with id ``skip``."""
    keys = {address_key(a) for a in addresses}
    if len(keys) != len(addresses):
        raise ConfigError(f"user {whose!r}: the same address is given twice")
    for other in users:
        if other.id != skip and keys & {address_key(a) for a in other.addresses}:
            raise ConfigError(
                f"user {whose!r}: that address is already an address of account {other.name!r}"
                " (an address makes its account the sender: one account each)"
            )


def clashes(users: Sequence[User]) -> dict[str, str]:
    """Account id -> why it may not log in, for enabled accounts sharing a folded name or
    a canonical address with another enabled account (made before these rules)."""
    by_name: defaultdict[str, list[User]] = defaultdict(list)
    by_address: defaultdict[str, list[User]] = defaultdict(list)
    for user in users:
        if user.disabled:
            continue
        by_name[name_key(user.name)].append(user)
        for key in {address_key(a) for a in user.addresses}:
            by_address[key].append(user)
    found: dict[str, str] = {}
    for group, what in ((by_name, "its name"), (by_address, "an address")):
        for same in group.values():
            if len(same) < 2:
                continue
            names = ", ".join(sorted(u.name for u in same))
            for user in same:
                found.setdefault(
                    user.id,
                    f"{what} is shared by accounts {names}: an admin must disable one"
                    " or change its address before either can log in",
                )
    return found
