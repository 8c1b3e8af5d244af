"""The message page's words: a sentence per finding, the rules in the policy's words."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import dataclasses

import pytest

from gateway.console.explain import DETAILS, place, reasons, rule_reasons, sentence
from gateway.console.view import message_view
from gateway.extract import Limits
from gateway.findings import REDACTABLE, Kind
from gateway.policy import default_policy_dir, load_policy
from tests.unit.console.test_view import _held

CASE = "DA-2025-0142"


def _f(kind: str, location: str = "body", confidence: str = "high", **more: str) -> dict:
    return {"kind": kind, "case": CASE, "location": location, "confidence": confidence} | more


@pytest.mark.parametrize(
    ("finding", "recipient", "expected"),
    [
        (
            _f("restricted_recipient", "envelope"),
            "mark.whitmore@example.com",
            f"The recipient mark.whitmore@example.com is a restricted contact of case {CASE}.",
        ),
        (
            _f("restricted_recipient", "envelope"),
            "",
            f"A recipient is a restricted contact of case {CASE}.",
        ),
        (_f("address"), "", f"The body contains the protected address of case {CASE}."),
        (
            _f("postcode", "attachment:letter.pdf"),
            "",
            "The attachment letter.pdf contains the postcode of a protected address of case "
            f"{CASE}.",
        ),
        (
            _f("name", "subject", "medium"),
            "",
            f"The subject contains the name of a protected person of case {CASE} "
            "(a close, not exact, match).",
        ),
        (
            _f("phone", "attachment:scan.tif#page=2", hidden="redaction"),
            "",
            f"Page 2 of the attachment scan.tif contains a protected phone number of case {CASE}"
            " in text a redaction meant to hide.",
        ),
        (
            {
                "kind": "unscannable",
                "case": None,
                "location": "attachment:a.zip",
                "reason": "encrypted",
            },
            "",
            "The attachment a.zip could not be read (encrypted), so what it carries is unknown.",
        ),
    ],
)
def test_each_finding_is_one_plain_sentence(finding: dict, recipient: str, expected: str) -> None:
    """Kind, case, place and confidence make the sentence; no code name, no number."""
    assert expected == sentence(finding, recipient)


def test_every_kind_has_words() -> None:
    """A new kind of protected detail cannot be left without a sentence."""
    assert {k.value for k in REDACTABLE} == set(DETAILS)
    for kind in Kind:
        words = sentence(_f(kind.value))
        assert "_" not in words, kind
        assert " of kind " not in words, kind


def test_places_read_as_words() -> None:
    """Headers by their name, attachments by their path, metadata as properties."""
    assert "the Reply-To header" == place("header:reply-to")
    assert "the properties of the attachment letter.pdf" == place("attachment:letter.pdf#metadata")
    assert "the message as a whole" == place("message")


def test_reasons_keep_the_code_name_and_number_apart() -> None:
    """The code name and the finding's number are kept for small print and highlights."""
    (first, second) = reasons([_f("restricted_recipient", "envelope"), _f("address")], {0: "m@x"})
    assert (0, "restricted_recipient") == (first.number, first.code)
    assert (1, "address", "high") == (second.number, second.code, second.confidence)


def test_rules_are_described_in_the_policy_words() -> None:
    """A rule's description comes from the policy; a rule it no longer has keeps its id."""
    policy = load_policy(default_policy_dir())
    known, gone = rule_reasons(policy, ["restricted-recipient-protected-data", "old-rule"])
    assert known.description.startswith("A restricted contact (or probably one")
    assert "\n" not in known.description
    assert ("old-rule", "") == (gone.id, gone.description)


def test_the_view_carries_the_sentences_and_rules() -> None:
    """The message view explains each finding, naming the restricted recipient."""
    held = dataclasses.replace(
        _held(
            "hello", [{"finding": 0, "location": "envelope", "text": "mark.whitmore@example.com"}]
        ),
        findings=[_f("restricted_recipient", "envelope"), _f("address")],
        rules=("restricted-recipient-protected-data",),
    )
    view = message_view(held, Limits(), load_policy(default_policy_dir()))
    assert [
        f"The recipient mark.whitmore@example.com is a restricted contact of case {CASE}.",
        f"The body contains the protected address of case {CASE}.",
    ] == [r.sentence for r in view.reasons]
    assert ["restricted-recipient-protected-data"] == [r.id for r in view.rules]
    assert view.titles([1]) == view.reasons[1].sentence
