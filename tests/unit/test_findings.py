"""Findings as the scan contract prints them, and failed redactions derived from them."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from gateway.findings import REDACTABLE, Confidence, Finding, Kind, failed_redactions
from gateway.segments import REDACTION

CASES = st.sampled_from(["DA-1", "DA-2", "refuge-north"])
LOCATIONS = st.sampled_from(["body", "attachment:report.pdf", "attachment:letter.docx"])


@st.composite
def findings(draw: st.DrawFn) -> Finding:
    return Finding(
        draw(st.sampled_from(list(Kind))),
        draw(CASES),
        draw(LOCATIONS),
        draw(st.sampled_from(list(Confidence))),
        draw(st.integers(50, 100)),
        hidden=draw(st.sampled_from([None, REDACTION])),
    )


def test_a_finding_without_hidden_prints_exactly_as_before() -> None:
    """No ``hidden`` key at all when it is not set: the output is byte-identical."""
    found = Finding(Kind.ADDRESS, "DA-1", "body", Confidence.HIGH, 100)
    expected = (
        '{"kind": "address", "case": "DA-1", "location": "body", '
        '"confidence": "high", "score": 100}'
    )
    assert expected == json.dumps(found.to_json())


def test_a_finding_under_a_redaction_says_so_last() -> None:
    """``hidden`` comes after the contract's fields, only when set."""
    found = Finding(Kind.PHONE, "DA-1", "attachment:r.pdf", Confidence.HIGH, 100, hidden=REDACTION)
    assert ["kind", "case", "location", "confidence", "score", "hidden"] == list(found.to_json())
    assert "redaction" == found.to_json()["hidden"]


@given(st.lists(findings(), max_size=12))
def test_one_failed_redaction_per_case_and_location_with_the_best_confidence(
    found: list[Finding],
) -> None:
    """Every (case, location) with a protected detail under a redaction gets exactly one
    failed_redaction, as sure as the surest of those details; no other gets one."""
    under = [f for f in found if f.hidden == REDACTION and f.kind in REDACTABLE]
    failed = failed_redactions(found)
    assert {(f.case, f.location) for f in under} == {(f.case, f.location) for f in failed}
    assert len(failed) == len({(f.case, f.location) for f in failed})
    for f in failed:
        mine = [g for g in under if (g.case, g.location) == (f.case, f.location)]
        best = max((g.confidence.rank, g.score) for g in mine)
        assert best == (f.confidence.rank, f.score)
        assert (Kind.FAILED_REDACTION, REDACTION) == (f.kind, f.hidden)


def test_recipients_and_unscannable_content_are_not_redactions() -> None:
    """Only protected details count: an unscannable part or a failed redaction
    itself under a redaction makes no failed redaction."""
    found = [
        Finding(Kind.UNSCANNABLE, None, "attachment:r.pdf", Confidence.HIGH, 100, hidden=REDACTION),
        Finding(Kind.FAILED_REDACTION, "DA-1", "body", Confidence.HIGH, 100, hidden=REDACTION),
        Finding(Kind.ADDRESS, "DA-1", "attachment:r.pdf", Confidence.HIGH, 100),
    ]
    assert [] == failed_redactions(found)
