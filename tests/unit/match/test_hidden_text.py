"""Details in text a redaction meant to hide: marked ``hidden``, and a failed redaction."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import pytest

from gateway.findings import Confidence, Finding, Kind, Match
from gateway.match import Addressee, Index, match
from gateway.segments import REDACTION, Segment

PDF = "attachment:report.pdf"
ADDRESS = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"


def _scan(index: Index, *segments: Segment) -> Match:
    return match(index, segments, [Addressee("solicitor@law.example", "envelope")])


def _of(result: Match, kind: Kind) -> list[Finding]:
    return [f for f in result.findings if f.kind is kind]


def test_an_address_under_a_redaction_is_an_address_marked_hidden(index: Index) -> None:
    """The address is found as ever, marked as hidden, and a failed redaction of its
    case at its place is added."""
    result = _scan(index, Segment(PDF, f"Moved to {ADDRESS}.", hidden=REDACTION))
    (address,) = _of(result, Kind.ADDRESS)
    (failed,) = _of(result, Kind.FAILED_REDACTION)
    assert ("DA-1", PDF, REDACTION) == (address.case, address.location, address.hidden)
    assert ("DA-1", PDF, REDACTION) == (failed.case, failed.location, failed.hidden)
    assert (address.confidence, address.score) == (failed.confidence, failed.score)


def test_visible_text_makes_no_hidden_finding_and_no_failed_redaction(index: Index) -> None:
    """The same text on the page's surface: findings exactly as before."""
    result = _scan(index, Segment(PDF, f"Moved to {ADDRESS}."))
    assert [] == _of(result, Kind.FAILED_REDACTION)
    assert {None} == {f.hidden for f in result.findings}
    assert all("hidden" not in f.to_json() for f in result.findings)


def test_the_same_detail_seen_and_hidden_on_one_page_is_two_findings(index: Index) -> None:
    """Visible in one place of the PDF and under a box in another: the reviewer sees
    both, and which one was meant to be hidden."""
    result = _scan(
        index,
        Segment(PDF, "Call 07700 900461 for the office."),
        Segment(PDF, "Her mobile is 07700 900461.", hidden=REDACTION),
    )
    phones = _of(result, Kind.PHONE)
    assert [None, REDACTION] == [f.hidden for f in phones]
    assert 1 == len(_of(result, Kind.FAILED_REDACTION))


def test_several_details_under_one_redaction_make_one_failed_redaction(index: Index) -> None:
    """Address, phone and email of one case at one place: one failed redaction, as sure
    as the surest detail."""
    text = f"{ADDRESS}, tel 07700 900461, sarah.w.safe@example.net"
    result = _scan(index, Segment(PDF, text, hidden=REDACTION))
    (failed,) = _of(result, Kind.FAILED_REDACTION)
    assert (Confidence.HIGH, 100) == (failed.confidence, failed.score)
    hidden_kinds = {f.kind for f in result.findings if f.hidden == REDACTION}
    assert {Kind.ADDRESS, Kind.PHONE, Kind.EMAIL, Kind.FAILED_REDACTION} <= hidden_kinds


def test_each_case_and_place_has_its_own_failed_redaction(index: Index) -> None:
    """Two cases under redactions in two attachments: one failed redaction each."""
    result = _scan(
        index,
        Segment(PDF, f"Moved to {ADDRESS}.", hidden=REDACTION),
        Segment("attachment:b.pdf", "14 St John's Wood Rd, London NW8 7HA", hidden=REDACTION),
    )
    expected = {("DA-1", PDF), ("DA-2", "attachment:b.pdf")}
    assert expected == {(f.case, f.location) for f in _of(result, Kind.FAILED_REDACTION)}


@pytest.mark.parametrize("hidden", ["", REDACTION])
def test_evidence_numbers_point_at_their_findings(index: Index, hidden: str) -> None:
    """Failed redactions come last, so every evidence span still numbers the finding
    whose detail it shows."""
    result = match(
        index,
        [Segment(PDF, f"Moved to {ADDRESS}.", hidden=hidden)],
        [Addressee("mark.whitmore@example.com", "envelope")],
    )
    for evidence in result.evidence:
        finding = result.findings[evidence.finding_index]
        assert finding.kind is not Kind.FAILED_REDACTION
        assert finding.location == evidence.location
