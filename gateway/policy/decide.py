"""findings + recipients -> Verdict: which rules fire, and the action they add up to.

Pure and free of I/O; runs for every message, so each rule's sets are built at load
(see ``model.When``) and a rule whose findings are absent is dismissed in one pass.

Among enforced hits the action is the strongest by reject > quarantine > tempfail >
deliver, and the severity the highest of the hits that hold the message; no hit (or
only deliver hits) means deliver with severity ``none``.  Monitor-mode hits are kept
in the verdict, marked, and change neither.

A hit's ``why`` names recipient classes, case ids, finding kinds, confidences and
locations: never a protected value, never matched text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.findings import Finding, Kind, Recipient
from gateway.policy.model import SEVERITY_RANK, Mode, Policy, RecipientClass, Rule, When
from gateway.verdict import Action, RuleHit, Severity, Verdict

ACTION_RANK = {Action.DELIVER: 0, Action.TEMPFAIL: 1, Action.QUARANTINE: 2, Action.REJECT: 3}
MAX_LISTED_FINDINGS = 8

_C = RecipientClass


def decide(policy: Policy, findings: Sequence[Finding], recipients: Sequence[Recipient]) -> Verdict:
    """The verdict for one message under ``policy``."""
    hits = tuple(
        hit for rule in policy.active if (hit := _evaluate(rule, findings, recipients)) is not None
    )
    enforced = [h for h in hits if not h.monitor]
    action = max((h.action for h in enforced), key=ACTION_RANK.__getitem__, default=Action.DELIVER)
    if action is Action.DELIVER:
        return Verdict(Action.DELIVER, Severity.NONE, hits)
    holding = [h.severity for h in enforced if h.action is not Action.DELIVER]
    return Verdict(action, max(holding, key=SEVERITY_RANK.__getitem__), hits)


def explain(verdict: Verdict) -> str:
    """The text ``gateway scan --explain`` prints for one verdict."""
    lines = [f"action: {verdict.action.value} (severity {verdict.severity.value})"]
    enforced = [h for h in verdict.hits if not h.monitor]
    monitored = [h for h in verdict.hits if h.monitor]
    if enforced:
        lines.append("rules fired:")
        lines.extend(_hit_line(h) for h in enforced)
    else:
        lines.append("no rule fired")
    if monitored:
        lines.append("monitor-mode rules fired (recorded, not enforced):")
        lines.extend(_hit_line(h) for h in monitored)
    return "\n".join(lines)


def _hit_line(hit: RuleHit) -> str:
    return f"  - {hit.rule} [{hit.action.value}, {hit.severity.value}]: {hit.why}"


@dataclass
class _Group:
    """The findings that fired a rule for one recipient phrase (e.g. one case)."""

    phrase: str
    case: str | None
    findings: dict[Finding, None]  # an ordered set


def _evaluate(
    rule: Rule, findings: Sequence[Finding], recipients: Sequence[Recipient]
) -> RuleHit | None:
    when = rule.when
    if when.findings is None:
        phrases = _recipient_only(when, recipients)
        if not phrases:
            return None
        return _hit(rule, rule.severity, " | ".join(phrases))
    selected = [f for f in findings if when.selects(f)]
    if not selected:
        return None
    groups = _pairs(when, selected, recipients)
    if not groups:
        return None
    fired = frozenset(f.kind for g in groups.values() for f in g.findings)
    return _hit(rule, _severity(rule, fired), " | ".join(_describe(g) for g in groups.values()))


def _hit(rule: Rule, severity: Severity, why: str) -> RuleHit:
    return RuleHit(rule.id, rule.action, severity, rule.mode is Mode.MONITOR, why)


def _severity(rule: Rule, fired: frozenset[Kind]) -> Severity:
    esc = rule.escalate
    if esc is not None and esc.applies(fired):
        return max(rule.severity, esc.severity, key=SEVERITY_RANK.__getitem__)
    return rule.severity


def _recipient_only(when: When, recipients: Sequence[Recipient]) -> list[str]:
    phrases: list[str] = []
    for cls in when.recipient:
        if cls is _C.ANY and not recipients:
            phrases.append(_phrase(cls, None, None, same_case=False))
        for r in recipients:
            if _in_class(cls, r):
                phrase = _phrase(cls, r, None, same_case=False)
                if phrase not in phrases:
                    phrases.append(phrase)
    return phrases


def _pairs(
    when: When, selected: list[Finding], recipients: Sequence[Recipient]
) -> dict[str, _Group]:
    """Group the (recipient, finding) pairs that satisfy the rule by recipient phrase."""
    groups: dict[str, _Group] = {}
    for cls in when.recipient:
        # A message with no known recipient still may not leave unchecked.
        candidates: Sequence[Recipient | None] = (
            [None] if cls is _C.ANY and not recipients else recipients
        )
        for r in candidates:
            if r is not None and not _in_class(cls, r):
                continue
            for f in selected:
                if r is not None and not _linked(cls, r, f, when.same_case):
                    continue
                phrase = _phrase(cls, r, f, same_case=when.same_case)
                group = groups.setdefault(phrase, _Group(phrase, _group_case(cls, f, when), {}))
                group.findings[f] = None
    return groups


def _in_class(cls: RecipientClass, r: Recipient) -> bool:
    if cls is _C.RESTRICTED:
        return bool(r.restricted_cases)
    if cls is _C.PROBABLY_RESTRICTED:
        return bool(r.probable_cases)
    if cls in (_C.EXTERNAL, _C.NOT_ALLOWED):
        return not r.internal
    if cls is _C.INTERNAL:
        return r.internal
    return True  # allowed (decided per finding) and any


def _linked(cls: RecipientClass, r: Recipient, f: Finding, same_case: bool) -> bool:
    if cls is _C.ALLOWED:
        return f.case in r.allowed_cases
    if cls is _C.NOT_ALLOWED or (same_case and cls is _C.EXTERNAL):
        return f.case not in r.allowed_cases
    if not same_case or cls in (_C.INTERNAL, _C.ANY):
        return True  # internal and any have no case relation
    cases = r.restricted_cases if cls is _C.RESTRICTED else r.probable_cases
    return f.case in cases


def _case_bound(cls: RecipientClass, same_case: bool) -> bool:
    """Whether the recipient phrase names the finding's case."""
    return cls in (_C.ALLOWED, _C.NOT_ALLOWED) or (same_case and cls not in (_C.INTERNAL, _C.ANY))


def _group_case(cls: RecipientClass, f: Finding, when: When) -> str | None:
    return f.case if _case_bound(cls, when.same_case) else None


def _phrase(cls: RecipientClass, r: Recipient | None, f: Finding | None, *, same_case: bool) -> str:
    if f is not None and _case_bound(cls, same_case):
        cases = f.case
    elif r is not None and cls is _C.RESTRICTED:
        cases = ", ".join(sorted(r.restricted_cases))
    elif r is not None and cls is _C.PROBABLY_RESTRICTED:
        cases = ", ".join(sorted(r.probable_cases))
    else:
        cases = None
    suffix = f" for case {cases}" if cases else ""
    if cls is _C.RESTRICTED:
        return f"recipient restricted{suffix}"
    if cls is _C.PROBABLY_RESTRICTED:
        return f"recipient probably restricted{suffix}"
    if cls is _C.ALLOWED:
        return f"recipient allowed{suffix}"
    if cls in (_C.EXTERNAL, _C.NOT_ALLOWED):
        return f"external recipient not allowed{suffix}" if suffix else "external recipient"
    if cls is _C.INTERNAL:
        return "internal recipient"
    return "any recipient" if r is not None else "no known recipient"


def _describe(group: _Group) -> str:
    listed = list(group.findings)
    shown = [_finding_text(f, group.case) for f in listed[:MAX_LISTED_FINDINGS]]
    more = len(listed) - len(shown)
    if more > 0:
        shown.append(f"and {more} more")
    return f"{group.phrase}; findings: {', '.join(shown)}"


def _finding_text(f: Finding, group_case: str | None) -> str:
    # The case is named once in the phrase when it is the group's; otherwise per finding.
    case = f" {f.case}" if f.case is not None and f.case != group_case else ""
    reason = f", {f.reason}" if f.reason else ""
    return f"{f.kind.value}{case} ({f.confidence.value}, {f.location}{reason})"
