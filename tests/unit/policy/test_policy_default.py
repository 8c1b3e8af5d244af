"""The shipped default policy against the contract's "Default policy" section."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import pytest

from gateway.findings import Confidence, Finding, Kind, Recipient
from gateway.policy import Policy, decide, default_policy_dir, load_policy
from gateway.verdict import Action, Severity

CASE = "DA-2025-0142"
OTHER = "DA-2025-0999"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(default_policy_dir())


def found(
    kind: Kind,
    case: str | None = CASE,
    location: str = "body",
    confidence: Confidence = Confidence.HIGH,
    reason: str | None = None,
) -> Finding:
    return Finding(kind, case, location, confidence, 95, reason=reason)


def restricted(case: str = CASE) -> Recipient:
    return Recipient("ex@abuser.example", restricted_cases=frozenset({case}))


def probable(case: str = CASE) -> Recipient:
    return Recipient("ex.partner@abuser.example", probable_cases=frozenset({case}))


def external(*allowed: str) -> Recipient:
    return Recipient("solicitor@law.example", allowed_cases=frozenset(allowed))


INTERNAL = Recipient("caseworker@council.example", internal=True)


def test_shipped_policy_has_the_contract_rules(policy: Policy) -> None:
    """The shipped folder loads and holds exactly the six default rules, all enforced."""
    expected = [
        "restricted-recipient-protected-data",
        "restricted-recipient-unscannable",
        "external-recipient-protected-address",
        "protected-location-external",
        "failed-redaction-external",
        "unscannable-message",
    ]
    assert expected == [r.id for r in policy.active]
    assert {"enforce"} == {r.mode.value for r in policy.active}


def test_shipped_policy_never_rejects(policy: Policy) -> None:
    """Nothing is rejected by default: every shipped rule quarantines."""
    assert {Action.QUARANTINE} == {r.action for r in policy.rules}


@pytest.mark.parametrize(
    "kind", [Kind.ADDRESS, Kind.POSTCODE, Kind.PHONE, Kind.EMAIL, Kind.NAME, Kind.DATE_OF_BIRTH]
)
def test_restricted_recipient_with_same_case_detail_is_quarantined(
    policy: Policy, kind: Kind
) -> None:
    """Any protected detail of the restricted contact's own case holds the message."""
    verdict = decide(policy, [found(kind)], [restricted()])
    assert Action.QUARANTINE == verdict.action
    assert "restricted-recipient-protected-data" in verdict.rules


def test_probable_restricted_recipient_with_same_case_name_is_quarantined(policy: Policy) -> None:
    """A probable restricted contact is treated like a restricted one."""
    verdict = decide(policy, [found(Kind.NAME)], [probable()])
    assert (Action.QUARANTINE, ["restricted-recipient-protected-data"]) == (
        verdict.action,
        verdict.rules,
    )


def test_restricted_recipient_with_other_case_name_is_delivered(policy: Policy) -> None:
    """Mail to a restricted contact naming someone of another case is delivered."""
    verdict = decide(policy, [found(Kind.NAME, case=OTHER)], [restricted()])
    assert (Action.DELIVER, Severity.NONE, ()) == (verdict.action, verdict.severity, verdict.hits)


def test_restricted_recipient_about_other_matters_is_delivered(policy: Policy) -> None:
    """Mail to a restricted contact with no protected detail is delivered."""
    verdict = decide(
        policy, [found(Kind.RESTRICTED_RECIPIENT, location="envelope")], [restricted()]
    )
    assert Action.DELIVER == verdict.action


def test_restricted_recipient_low_confidence_detail_is_delivered(policy: Policy) -> None:
    """min_confidence medium filters out low-confidence findings."""
    verdict = decide(policy, [found(Kind.NAME, confidence=Confidence.LOW)], [restricted()])
    assert Action.DELIVER == verdict.action


def test_restricted_recipient_medium_confidence_detail_is_quarantined(policy: Policy) -> None:
    """A medium-confidence finding meets the threshold."""
    verdict = decide(policy, [found(Kind.NAME, confidence=Confidence.MEDIUM)], [restricted()])
    assert Action.QUARANTINE == verdict.action


@pytest.mark.parametrize("kind", [Kind.ADDRESS, Kind.POSTCODE])
def test_address_or_postcode_to_restricted_recipient_is_critical(
    policy: Policy, kind: Kind
) -> None:
    """The victim's whereabouts going to a restricted contact escalate to critical."""
    verdict = decide(policy, [found(kind)], [restricted()])
    assert Severity.CRITICAL == verdict.severity


def test_phone_to_restricted_recipient_is_high(policy: Policy) -> None:
    """Without an address or postcode the restricted rule stays at high severity."""
    verdict = decide(policy, [found(Kind.PHONE), found(Kind.NAME)], [restricted()])
    assert Severity.HIGH == verdict.severity


@pytest.mark.parametrize("kind", [Kind.ADDRESS, Kind.PHONE, Kind.EMAIL])
def test_external_recipient_with_protected_contact_detail_is_quarantined(
    policy: Policy, kind: Kind
) -> None:
    """An address, phone or email to a recipient not allowed for the case is held."""
    verdict = decide(policy, [found(kind)], [external()])
    assert (Action.QUARANTINE, ["external-recipient-protected-address"]) == (
        verdict.action,
        verdict.rules,
    )


@pytest.mark.parametrize("kind", [Kind.POSTCODE, Kind.NAME, Kind.DATE_OF_BIRTH])
def test_external_recipient_with_lesser_detail_alone_is_delivered(
    policy: Policy, kind: Kind
) -> None:
    """A postcode, name or date of birth alone to an external recipient is delivered."""
    verdict = decide(policy, [found(kind)], [external()])
    assert Action.DELIVER == verdict.action


def test_external_recipient_allowed_for_the_case_is_delivered(policy: Policy) -> None:
    """An allowed recipient of the case may receive its address."""
    verdict = decide(policy, [found(Kind.ADDRESS)], [external(CASE)])
    assert Action.DELIVER == verdict.action


def test_external_recipient_allowed_for_another_case_is_quarantined(policy: Policy) -> None:
    """Being allowed for one case does not allow another case's address."""
    verdict = decide(policy, [found(Kind.ADDRESS)], [external(OTHER)])
    assert Action.QUARANTINE == verdict.action


def test_internal_recipient_with_address_is_delivered(policy: Policy) -> None:
    """Internal recipients receive protected details freely."""
    verdict = decide(policy, [found(Kind.ADDRESS), found(Kind.PHONE)], [INTERNAL])
    assert Action.DELIVER == verdict.action


def test_one_external_recipient_among_internal_ones_holds_the_message(policy: Policy) -> None:
    """A single recipient not allowed for the case is enough to hold the message."""
    verdict = decide(policy, [found(Kind.ADDRESS)], [INTERNAL, external(CASE), external()])
    assert Action.QUARANTINE == verdict.action


def test_protected_location_to_external_recipient_is_quarantined(policy: Policy) -> None:
    """A refuge's address going outside is held, even to a recipient allowed for a case."""
    finding = found(Kind.PROTECTED_LOCATION, case="LOC-REFUGE-1")
    verdict = decide(policy, [finding], [external(CASE)])
    assert (Action.QUARANTINE, ["protected-location-external"]) == (verdict.action, verdict.rules)


def test_protected_location_to_internal_recipient_is_delivered(policy: Policy) -> None:
    """A protected location's address may circulate internally."""
    verdict = decide(policy, [found(Kind.PROTECTED_LOCATION, case="LOC-REFUGE-1")], [INTERNAL])
    assert Action.DELIVER == verdict.action


def test_unscannable_attachment_to_restricted_recipient_is_quarantined(policy: Policy) -> None:
    """Content the gateway cannot read going to a restricted contact is held."""
    finding = found(Kind.UNSCANNABLE, None, "attachment:x.zip/y.pdf", reason="encrypted")
    verdict = decide(policy, [finding], [probable()])
    assert (Action.QUARANTINE, ["restricted-recipient-unscannable"]) == (
        verdict.action,
        verdict.rules,
    )


def test_unscannable_attachment_to_external_recipient_is_delivered(policy: Policy) -> None:
    """An unreadable attachment to an ordinary recipient does not hold the message."""
    finding = found(Kind.UNSCANNABLE, None, "attachment:x.zip/y.pdf", reason="encrypted")
    verdict = decide(policy, [finding], [external()])
    assert Action.DELIVER == verdict.action


@pytest.mark.parametrize("recipients", [[INTERNAL], [external(CASE)], []])
def test_unscannable_message_is_quarantined_whoever_receives_it(
    policy: Policy, recipients: list[Recipient]
) -> None:
    """A message that could not be scanned at all is held (fail closed)."""
    finding = found(Kind.UNSCANNABLE, None, "message", reason="time budget exceeded")
    verdict = decide(policy, [finding], recipients)
    assert (Action.QUARANTINE, ["unscannable-message"]) == (verdict.action, verdict.rules)


def test_no_findings_is_delivered(policy: Policy) -> None:
    """Ordinary mail with nothing found is delivered with no severity."""
    verdict = decide(policy, [], [external(), INTERNAL])
    assert (Action.DELIVER, Severity.NONE, ()) == (verdict.action, verdict.severity, verdict.hits)


def test_why_names_case_kind_and_location(policy: Policy) -> None:
    """A hit's reason names the recipient class, case, kinds and locations only."""
    verdict = decide(
        policy, [found(Kind.ADDRESS, location="attachment:letter.pdf")], [restricted()]
    )
    expected = (
        f"recipient restricted for case {CASE}; findings: address (high, attachment:letter.pdf)"
    )
    assert expected == verdict.hits[0].why
