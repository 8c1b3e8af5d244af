"""policy YAML data -> typed rules: the format of a rules file and what a rule means.

A rules file is a mapping with one key, ``rules``, a list of rules::

    rules:
      - id: restricted-recipient-protected-data
        description: A restricted contact would receive a protected detail of the same case.
        when:
          recipient: [restricted, probably_restricted]
          findings: [address, postcode, phone, email, name, date_of_birth]
          same_case: true
          min_confidence: medium
          locations: ["attachment:*"]      # optional
        action: quarantine                 # deliver | quarantine | reject | tempfail
        severity: high                     # low | medium | high | critical
        escalate:                          # optional
          findings: [address, postcode]
          severity: critical
        mode: enforce                      # enforce | monitor
        release: direct                    # direct | rescan (see below)
        enabled: true

When a held message is released
-------------------------------
``release: direct`` (the default) re-injects the message as it is, after the reviewer's
decision.  ``release: rescan`` scans it again first, with the register and policy in
force then: if that rescan fires a rule that did not hold the message (the register
has changed since, say), the release stops and the message stays held.

When a rule fires
-----------------
A rule fires for a message when there is a recipient R in one of the classes listed
under ``when.recipient`` and a finding F such that

- F.kind is one of ``when.findings``,
- F.confidence >= ``when.min_confidence`` (default ``low``: every finding),
- F.location matches one of ``when.locations`` when given (exact, or a glob such as
  ``attachment:*``; ``message`` is the location of a finding about the whole message),
- R and F are linked by the class that matched R (see below).

Recipient classes, and the link a class requires between R and F:

==================== ============================== ============================================
class                R is in it when                link to F (``same_case: true`` only, except *)
==================== ============================== ============================================
restricted           R.restricted_cases non-empty   F.case in R.restricted_cases
probably_restricted  R.probable_cases non-empty     F.case in R.probable_cases
external             R is not internal              F.case not in R.allowed_cases
internal             R is internal                  none
allowed *            always                         F.case in R.allowed_cases (always required)
not_allowed *        R is not internal              F.case not in R.allowed_cases (always)
any                  always                         none
==================== ============================== ============================================

``allowed`` and ``not_allowed`` are about a finding's case, so they always need
``findings``.  ``not_allowed`` is "neither internal nor an allowed recipient of that
case"; ``external`` with ``same_case: true`` means the same.  A protected location's
finding carries the location id as its case, which is never an allowed case, so every
external recipient is "not allowed" for it.  A finding without a case (unscannable)
is never linked to a restricted case, so rules about unscannable content leave
``same_case`` off.

``findings`` may be omitted: the rule then fires when any recipient is in a listed
class (a recipient-only rule); ``same_case`` and ``locations`` then make no sense and
are refused.  The class ``any`` also matches a message that has no recipient at all,
so a fail-closed rule still holds mail whose recipients are unknown.

Outcome
-------
A firing rule contributes its ``action`` and ``severity``; ``escalate`` raises the
severity when a finding that made the rule fire has one of ``escalate.findings``.
``mode: monitor`` records the hit in the verdict without changing the action.
``enabled: false`` switches a rule off (how a site disables a shipped rule).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from gateway.findings import Confidence, Finding, Kind
from gateway.verdict import Action, Severity

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
_GLOB_CHARS = frozenset("*?[")

SEVERITY_RANK = {
    Severity.NONE: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class RecipientClass(StrEnum):
    """Which recipients a rule is about; see the module docstring for each class."""

    RESTRICTED = "restricted"
    PROBABLY_RESTRICTED = "probably_restricted"
    EXTERNAL = "external"
    INTERNAL = "internal"
    ALLOWED = "allowed"
    NOT_ALLOWED = "not_allowed"
    ANY = "any"


# Classes whose link to a finding's case holds whatever ``same_case`` says.
CASE_BOUND_CLASSES = frozenset({RecipientClass.ALLOWED, RecipientClass.NOT_ALLOWED})


class Mode(StrEnum):
    """Whether a rule's hit changes the action (enforce) or is only recorded (monitor)."""

    ENFORCE = "enforce"
    MONITOR = "monitor"


class ReleaseMode(StrEnum):
    """What a release does with a message this rule held."""

    DIRECT = "direct"  # re-inject as it is
    RESCAN = "rescan"  # scan again first; stop if something new fires


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class When(_Strict):
    """The condition of a rule: which recipients, which findings, how they relate."""

    recipient: tuple[RecipientClass, ...] = Field(default=(RecipientClass.ANY,), min_length=1)
    findings: tuple[Kind, ...] | None = Field(default=None, min_length=1)
    same_case: bool = False
    min_confidence: Confidence = Confidence.LOW
    locations: tuple[str, ...] | None = Field(default=None, min_length=1)

    _kinds: frozenset[Kind] = PrivateAttr(default=frozenset())
    _exact_locations: frozenset[str] = PrivateAttr(default=frozenset())
    _glob_locations: tuple[str, ...] = PrivateAttr(default=())
    _min_rank: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.findings is None:
            if self.same_case:
                raise ValueError("same_case needs findings")
            if self.locations is not None:
                raise ValueError("locations needs findings")
            bound = CASE_BOUND_CLASSES.intersection(self.recipient)
            if bound:
                names = ", ".join(sorted(bound))
                raise ValueError(f"recipient class {names} needs findings")
        if self.locations is not None and any(not loc for loc in self.locations):
            raise ValueError("a location must not be empty")
        return self

    def model_post_init(self, context: Any, /) -> None:
        # Precomputed once at load: decide() runs for every message.
        self._kinds = frozenset(self.findings or ())
        self._min_rank = self.min_confidence.rank
        locs = self.locations or ()
        self._exact_locations = frozenset(x for x in locs if not _GLOB_CHARS & set(x))
        self._glob_locations = tuple(x for x in locs if _GLOB_CHARS & set(x))

    def selects(self, finding: Finding) -> bool:
        """Whether ``finding`` passes the kind, confidence and location filters."""
        if finding.kind not in self._kinds or finding.confidence.rank < self._min_rank:
            return False
        if self.locations is None or finding.location in self._exact_locations:
            return True
        return any(fnmatch.fnmatchcase(finding.location, g) for g in self._glob_locations)


class Escalate(_Strict):
    """A higher severity when the findings that fired a rule include some kinds."""

    findings: tuple[Kind, ...] = Field(min_length=1)
    severity: Severity

    _kinds: frozenset[Kind] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: Any, /) -> None:
        self._kinds = frozenset(self.findings)

    def applies(self, kinds: frozenset[Kind]) -> bool:
        """Whether any of ``kinds`` (the kinds that fired the rule) escalates."""
        return not self._kinds.isdisjoint(kinds)


class Rule(_Strict):
    """One policy rule: a condition, and what to do when it holds."""

    id: str = Field(pattern=RULE_ID_PATTERN, max_length=100)
    description: str = ""
    when: When = Field(default_factory=When)
    action: Action
    severity: Severity
    escalate: Escalate | None = None
    mode: Mode = Mode.ENFORCE
    release: ReleaseMode = ReleaseMode.DIRECT
    enabled: bool = True

    @model_validator(mode="after")
    def _real_severity(self) -> Self:
        if self.severity is Severity.NONE:
            raise ValueError("severity must be low, medium, high or critical")
        return self


class RulesFile(_Strict):
    """One policy YAML file."""

    rules: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Policy:
    """The rules in force, in evaluation order, and the files they came from."""

    rules: tuple[Rule, ...]
    sources: tuple[str, ...] = ()
    active: tuple[Rule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "active", tuple(r for r in self.rules if r.enabled))

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with ``rule_id``, enabled or not."""
        return next((r for r in self.rules if r.id == rule_id), None)
