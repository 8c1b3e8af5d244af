"""review: the values the review module deals in: roles, users, audit records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a user may do; a user can hold several roles."""

    REVIEWER = "reviewer"  # view, release and reject non-critical holds
    SENIOR = "senior"  # also the second, different approver of a critical hold
    POLICY_ADMIN = "policy-admin"  # tunes policies
    REGISTER_ADMIN = "register-admin"  # imports and edits the register
    AUDITOR = "auditor"  # reads messages and the audit log, changes nothing
    ADMIN = "admin"  # manages users


ROLES: tuple[str, ...] = tuple(role.value for role in Role)
REVIEWERS = frozenset({Role.REVIEWER, Role.SENIOR})
READERS = REVIEWERS | {Role.AUDITOR}


@dataclass(frozen=True)
class User:
    """A review account (never carries its password hash or second-factor secret)."""

    name: str
    email: str
    roles: frozenset[Role]
    disabled: bool = False
    has_totp: bool = False
    id: str = ""  # stable and random: what the four-eyes rule compares
    aliases: tuple[str, ...] = ()  # other addresses the user sends from
    clash: str = ""  # why the account may not log in (a name or address shared), or ""
    sso: bool = False  # signs in through the organisation's identity provider, no password

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address that makes this user the sender: the email, then the aliases."""
        return (self.email, *self.aliases) if self.email else self.aliases

    def has(self, *roles: Role) -> bool:
        """True if the user holds any of ``roles``."""
        return bool(self.roles.intersection(roles))

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"user:{self.name}"


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit chain: who did what to which target, when and why."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """What ``gateway audit verify`` found: ok, or the first record that breaks the chain."""

    records: int
    broken_at: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.problem


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release request did: ``approved`` (waiting for a second reviewer),
    ``released`` (accepted upstream), ``pending`` (not taken yet; retried), or
    ``refused`` (the upstream said no for good; held again)."""

    message_id: str
    state: str
    detail: str = ""
