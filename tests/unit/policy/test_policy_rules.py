"""Rule semantics in decide(): recipient classes, filters, precedence, monitor, explain."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.findings import Confidence, Finding, Kind, Recipient
from gateway.policy import Policy, decide, explain
from gateway.policy.model import Rule
from gateway.verdict import Action, Severity

CASE = "DA-1"


def rule(
    rule_id: str = "r", action: str = "quarantine", severity: str = "high", **when: Any
) -> Rule:
    return Rule.model_validate(
        {"id": rule_id, "action": action, "severity": severity, "when": when}
    )


def policy(*rules: Rule) -> Policy:
    return Policy(rules=rules)


def found(kind: Kind = Kind.ADDRESS, case: str | None = CASE, location: str = "body") -> Finding:
    return Finding(kind, case, location, Confidence.HIGH, 95)


RESTRICTED = Recipient("ex@x.example", restricted_cases=frozenset({CASE}))
PROBABLE = Recipient("ex2@x.example", probable_cases=frozenset({CASE}))
ALLOWED = Recipient("law@y.example", allowed_cases=frozenset({CASE}))
OUTSIDER = Recipient("any@z.example")
INTERNAL = Recipient("staff@org.example", internal=True)


@pytest.mark.parametrize(
    ("cls", "recipient", "expected"),
    [
        ("restricted", RESTRICTED, Action.QUARANTINE),
        ("restricted", PROBABLE, Action.DELIVER),
        ("probably_restricted", PROBABLE, Action.QUARANTINE),
        ("probably_restricted", RESTRICTED, Action.DELIVER),
        ("external", OUTSIDER, Action.QUARANTINE),
        ("external", ALLOWED, Action.DELIVER),
        ("external", INTERNAL, Action.DELIVER),
        ("not_allowed", OUTSIDER, Action.QUARANTINE),
        ("not_allowed", ALLOWED, Action.DELIVER),
        ("allowed", ALLOWED, Action.QUARANTINE),
        ("allowed", OUTSIDER, Action.DELIVER),
        ("internal", INTERNAL, Action.QUARANTINE),
        ("internal", OUTSIDER, Action.DELIVER),
        ("any", INTERNAL, Action.QUARANTINE),
    ],
)
def test_recipient_class_with_same_case(cls: str, recipient: Recipient, expected: Action) -> None:
    """Each recipient class matches its recipients, linked to the finding's case."""
    p = policy(rule(recipient=[cls], findings=["address"], same_case=True))
    assert expected == decide(p, [found()], [recipient]).action


def test_restricted_without_same_case_fires_on_any_case() -> None:
    """Without same_case a restricted contact triggers on another case's finding."""
    p = policy(rule(recipient=["restricted"], findings=["name"]))
    assert Action.QUARANTINE == decide(p, [found(Kind.NAME, "DA-9")], [RESTRICTED]).action


def test_not_allowed_checks_the_case_even_without_same_case() -> None:
    """not_allowed is about the finding's case whatever same_case says."""
    p = policy(rule(recipient=["not_allowed"], findings=["address"]))
    assert Action.DELIVER == decide(p, [found()], [ALLOWED]).action


def test_protected_location_is_never_allowed() -> None:
    """A protected location's id is not a case, so an allowed recipient is still not allowed."""
    p = policy(rule(recipient=["not_allowed"], findings=["protected_location"], same_case=True))
    finding = found(Kind.PROTECTED_LOCATION, "LOC-1")
    assert Action.QUARANTINE == decide(p, [finding], [ALLOWED]).action


def test_recipient_only_rule_fires_without_findings() -> None:
    """A rule without findings fires on the recipient alone."""
    p = policy(rule(recipient=["restricted"], action="tempfail"))
    verdict = decide(p, [], [OUTSIDER, RESTRICTED])
    assert (Action.TEMPFAIL, "recipient restricted for case DA-1") == (
        verdict.action,
        verdict.hits[0].why,
    )


def test_locations_filter_accepts_exact_and_glob() -> None:
    """locations matches exactly, or as a glob such as attachment:*."""
    p = policy(rule(findings=["address"], locations=["subject", "attachment:*"]))
    actions = [
        decide(p, [found(location=loc)], [OUTSIDER]).action
        for loc in ("subject", "attachment:a.zip/b.pdf", "body")
    ]
    assert [Action.QUARANTINE, Action.QUARANTINE, Action.DELIVER] == actions


def test_min_confidence_filters_lower_findings() -> None:
    """Findings below min_confidence do not count."""
    p = policy(rule(findings=["address"], min_confidence="high"))
    medium = Finding(Kind.ADDRESS, CASE, "body", Confidence.MEDIUM, 80)
    assert Action.DELIVER == decide(p, [medium], [OUTSIDER]).action


def test_any_class_fires_when_no_recipient_is_known() -> None:
    """A rule for any recipient still holds a message whose recipients are unknown."""
    p = policy(rule(recipient=["any"], findings=["unscannable"], locations=["message"]))
    finding = found(Kind.UNSCANNABLE, None, "message")
    verdict = decide(p, [finding], [])
    assert (Action.QUARANTINE, "no known recipient; findings: unscannable (high, message)") == (
        verdict.action,
        verdict.hits[0].why,
    )


def test_action_precedence_reject_quarantine_tempfail_deliver() -> None:
    """The strongest enforced action wins: reject > quarantine > tempfail > deliver."""
    rules = [rule(f"r-{a}", action=a, findings=["address"]) for a in ("deliver", "tempfail")]
    assert Action.TEMPFAIL == decide(policy(*rules), [found()], [OUTSIDER]).action
    rules += [rule("r-reject", action="reject"), rule("r-quarantine", action="quarantine")]
    verdict = decide(policy(*rules), [found()], [OUTSIDER])
    assert (Action.REJECT, ["r-deliver", "r-tempfail", "r-reject", "r-quarantine"]) == (
        verdict.action,
        verdict.rules,
    )


def test_deliver_hits_leave_severity_none() -> None:
    """A rule that only delivers does not give the verdict a severity."""
    verdict = decide(policy(rule(action="deliver", findings=["address"])), [found()], [OUTSIDER])
    assert (Action.DELIVER, Severity.NONE, 1) == (
        verdict.action,
        verdict.severity,
        len(verdict.hits),
    )


def test_severity_is_the_highest_of_the_holding_hits() -> None:
    """The verdict carries the highest severity among enforced holding hits."""
    rules = [rule("a", severity="low"), rule("b", severity="critical", action="tempfail")]
    assert Severity.CRITICAL == decide(policy(*rules), [], [OUTSIDER]).severity


def test_monitor_hit_is_recorded_but_does_not_act() -> None:
    """A monitor-mode hit is in the verdict, marked, and changes neither action nor severity."""
    monitored = Rule.model_validate(
        {"id": "m", "action": "reject", "severity": "critical", "mode": "monitor"}
    )
    verdict = decide(policy(monitored), [], [OUTSIDER])
    assert (Action.DELIVER, Severity.NONE, [], True) == (
        verdict.action,
        verdict.severity,
        verdict.rules,
        verdict.hits[0].monitor,
    )


def test_escalate_raises_severity_only_for_the_listed_kinds() -> None:
    """escalate applies when a finding that fired the rule has one of its kinds."""
    r = Rule.model_validate(
        {
            "id": "e",
            "action": "quarantine",
            "severity": "high",
            "when": {"findings": ["address", "phone"]},
            "escalate": {"findings": ["address"], "severity": "critical"},
        }
    )
    severities = [
        decide(policy(r), [found(k)], [OUTSIDER]).severity for k in (Kind.ADDRESS, Kind.PHONE)
    ]
    assert [Severity.CRITICAL, Severity.HIGH] == severities


def test_escalate_ignores_findings_that_did_not_fire_the_rule() -> None:
    """An address of another case does not escalate a same-case hit on a phone."""
    r = Rule.model_validate(
        {
            "id": "e",
            "action": "quarantine",
            "severity": "high",
            "when": {
                "recipient": ["restricted"],
                "findings": ["address", "phone"],
                "same_case": True,
            },
            "escalate": {"findings": ["address"], "severity": "critical"},
        }
    )
    findings = [found(Kind.PHONE), found(Kind.ADDRESS, "DA-9")]
    assert Severity.HIGH == decide(policy(r), findings, [RESTRICTED]).severity


def test_disabled_rule_does_not_fire() -> None:
    """enabled: false keeps a rule out of the decision."""
    r = Rule.model_validate({"id": "d", "action": "reject", "severity": "high", "enabled": False})
    assert () == decide(policy(r), [], [OUTSIDER]).hits


def test_why_groups_by_case_and_never_holds_values() -> None:
    """why lists kinds, cases, confidences and locations per recipient link."""
    other = Recipient("ex@x.example", restricted_cases=frozenset({CASE, "DA-2"}))
    p = policy(rule(recipient=["restricted"], findings=["address", "phone"], same_case=True))
    findings = [found(Kind.ADDRESS), found(Kind.PHONE, "DA-2", "attachment:a.pdf")]
    expected = (
        "recipient restricted for case DA-1; findings: address (high, body) | "
        "recipient restricted for case DA-2; findings: phone (high, attachment:a.pdf)"
    )
    assert expected == decide(p, findings, [other]).hits[0].why


def test_explain_lists_rules_with_reasons() -> None:
    """explain prints the action, each enforced rule with its reason, then monitor hits."""
    monitored = Rule.model_validate(
        {"id": "m", "action": "reject", "severity": "low", "mode": "monitor"}
    )
    p = policy(rule("hold", recipient=["external"], findings=["address"]), monitored)
    expected = (
        "action: quarantine (severity high)\n"
        "rules fired:\n"
        "  - hold [quarantine, high]: external recipient; findings: address DA-1 (high, body)\n"
        "monitor-mode rules fired (recorded, not enforced):\n"
        "  - m [reject, low]: any recipient"
    )
    assert expected == explain(decide(p, [found()], [OUTSIDER]))


def test_explain_says_no_rule_fired() -> None:
    """explain of a clean verdict says no rule fired."""
    assert "action: deliver (severity none)\nno rule fired" == explain(decide(policy(), [], []))


@pytest.mark.parametrize(
    "fields",
    [
        {"when": {"recipient": ["allowed"]}},
        {"when": {"locations": ["body"]}},
        {"when": {"findings": []}},
        {"severity": "none"},
        {"id": "Bad Id"},
    ],
)
def test_incoherent_rules_are_refused(fields: dict[str, Any]) -> None:
    """Rules whose conditions cannot mean anything fail validation."""
    with pytest.raises(ValidationError):
        Rule.model_validate({"id": "x", "action": "quarantine", "severity": "high", **fields})


def test_why_lists_at_most_eight_findings_per_group() -> None:
    """A long list of findings is cut short with a count, keeping reasons readable."""
    p = policy(rule(findings=["name"]))
    findings = [found(Kind.NAME, location=f"attachment:{i}.pdf") for i in range(10)]
    why = decide(p, findings, [OUTSIDER]).hits[0].why
    assert (8, True) == (why.count("name DA-1"), why.endswith(", and 2 more"))
