"""The shipped rule for redactions that hide nothing, beside the rules that were there."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import pytest

from gateway.findings import Confidence, Finding, Kind, Recipient, failed_redactions
from gateway.policy import Policy, decide, default_policy_dir, load_policy
from gateway.segments import REDACTION
from gateway.verdict import Action, Severity

CASE = "DA-2025-0142"
PDF = "attachment:report.pdf"
RULE = "failed-redaction-external"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(default_policy_dir())


def hidden(kind: Kind, confidence: Confidence = Confidence.HIGH) -> list[Finding]:
    """A detail under a redaction, with the failed redaction the matcher adds."""
    found = [Finding(kind, CASE, PDF, confidence, 95, hidden=REDACTION)]
    return found + failed_redactions(found)


SOLICITOR = Recipient("solicitor@law.example")
ALLOWED = Recipient("victim.solicitor@law.example", allowed_cases=frozenset({CASE}))
INTERNAL = Recipient("caseworker@council.example", internal=True)
RESTRICTED = Recipient("ex@abuser.example", restricted_cases=frozenset({CASE}))


@pytest.mark.parametrize(
    "kind",
    [Kind.ADDRESS, Kind.POSTCODE, Kind.STREET, Kind.NAME, Kind.DATE_OF_BIRTH, Kind.PHONE],
)
def test_a_failed_redaction_to_an_external_recipient_is_held(policy: Policy, kind: Kind) -> None:
    """Any protected detail under a box that hides nothing, going outside: held, even
    a postcode or a name, which alone would go out."""
    verdict = decide(policy, hidden(kind), [SOLICITOR])
    assert Action.QUARANTINE == verdict.action
    assert RULE in verdict.rules
    assert Severity.HIGH == verdict.severity


def test_a_failed_redaction_to_an_allowed_recipient_is_held(policy: Policy) -> None:
    """The case's allowed recipient may have the address, but the sender meant this
    copy not to carry it: held."""
    verdict = decide(policy, hidden(Kind.ADDRESS), [ALLOWED])
    assert (Action.QUARANTINE, [RULE]) == (verdict.action, verdict.rules)


def test_a_failed_redaction_to_internal_recipients_is_delivered(policy: Policy) -> None:
    """Inside the organisation the report goes as it is."""
    verdict = decide(policy, hidden(Kind.ADDRESS), [INTERNAL])
    assert Action.DELIVER == verdict.action


def test_a_low_confidence_detail_under_a_redaction_is_delivered(policy: Policy) -> None:
    """A weak hint under a box is not enough to hold the message."""
    verdict = decide(policy, hidden(Kind.NAME, Confidence.LOW), [SOLICITOR])
    assert Action.DELIVER == verdict.action


def test_the_address_under_a_box_to_the_restricted_contact_is_critical(policy: Policy) -> None:
    """The restricted contact's rule sees the hidden address as an address: critical,
    and the failed redaction is named beside it."""
    verdict = decide(policy, hidden(Kind.ADDRESS), [RESTRICTED])
    assert Severity.CRITICAL == verdict.severity
    assert {"restricted-recipient-protected-data", RULE} <= set(verdict.rules)


@pytest.mark.parametrize("recipient", [SOLICITOR, ALLOWED, INTERNAL, RESTRICTED])
@pytest.mark.parametrize("kind", [Kind.ADDRESS, Kind.POSTCODE, Kind.PHONE, Kind.NAME])
def test_the_other_rules_read_hidden_details_as_visible_ones(
    policy: Policy, recipient: Recipient, kind: Kind
) -> None:
    """Without the new rule, a detail under a redaction gets the verdict the same
    detail on the surface gets: the existing rules behave as before."""
    seen = [Finding(kind, CASE, PDF, Confidence.HIGH, 95)]
    others = [r for r in policy.rules if r.id != RULE]
    without = Policy(tuple(others))
    assert decide(without, seen, [recipient]) == decide(without, hidden(kind), [recipient])
