"""decide -> Verdict: what to do with a message, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What the gateway does with a message."""

    DELIVER = "deliver"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    TEMPFAIL = "tempfail"


class Severity(StrEnum):
    """How bad a hold is; critical holds need two reviewers to release."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired, with a reason a reviewer can read (no protected values)."""

    rule: str
    action: Action
    severity: Severity
    monitor: bool
    why: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one message: the action taken and every rule that fired."""

    action: Action
    severity: Severity
    hits: tuple[RuleHit, ...]

    @property
    def rules(self) -> list[str]:
        """Ids of the rules that decided the action (monitor-mode rules excluded)."""
        return [h.rule for h in self.hits if not h.monitor]
