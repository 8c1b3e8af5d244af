"""Matching shares the scan's deadline: it stops with OverBudget once the deadline has
passed, and working a chunk at a time (for the checks) changes no finding."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gateway.match
from gateway.budget import OVER_TIME, Deadline, OverBudget
from gateway.findings import Match
from gateway.match import Addressee, Index, content, match
from gateway.segments import Segment

MARK = Addressee("mark.whitmore@example.com", "envelope")
# Pieces of text with every kind of probe: protected details of DA-1 (address,
# postcode, phone, email, names, dates of birth), another case's, near misses, filler.
PIECES = [
    "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT",
    "27 Kingfisher Rd",
    "LS6 3QT",
    "postcode LS6 3QT near 3 Heron Road",
    "07700 900461",
    "sarah.w.safe@example.net",
    "Sarah Whitmore",
    "Whitmore, Sarah J.",
    "Sarah Whitmores",
    "17/04/1988",
    "17th of April 1988",
    "2016-09-02",
    "Joanna Blackwood",
    "14 St John's Wood Rd, London NW8 7HA",
    "12 Example Street, Sheffield, S1 2AB",
    "Sarah Jones met Oliver Smith",
    "the meeting is on 3 May",
    "\n",
]


def _as_tuple(found: Match) -> tuple[object, ...]:
    return (found.findings, found.recipients, found.evidence)


def test_a_passed_deadline_stops_matching(index: Index) -> None:
    """With the deadline already passed, match raises OverBudget, "over time budget"."""
    with pytest.raises(OverBudget) as stop:
        match(index, [Segment("body", "Sarah Whitmore")], [MARK], (), Deadline(time.monotonic()))
    assert OVER_TIME == stop.value.reason


def test_a_deadline_inside_one_huge_segment_stops_it_in_time(index: Index) -> None:
    """One segment of several MB of name pairs stops within a fraction of a second of
    its deadline, not after the whole segment."""
    text = "Sarah Whitmore Sarah Jones Oliver Smith Sarah Davies\n" * 60_000
    deadline = Deadline.after(0.2)
    with pytest.raises(OverBudget):
        match(index, [Segment("body", text)], [MARK], (), deadline)
    assert time.monotonic() - deadline.at < 1.0  # the whole segment takes 10 s and more


def test_a_deadline_not_reached_changes_nothing(index: Index) -> None:
    """A message matched well within its deadline gets the findings it gets without one."""
    segments = [Segment("body", " ".join(PIECES)), Segment("subject", "Sarah Whitmore")]
    expected = match(index, segments, [MARK])
    assert _as_tuple(expected) == _as_tuple(match(index, segments, [MARK], (), Deadline.after(60)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=60),
    st.sampled_from([1, 2, 3, 7]),
)
def test_chunked_matching_finds_what_one_pass_finds(
    index: Index, pieces: list[str], chunk: int
) -> None:
    """Probes found a few anchor words at a time, and looked up and verified a few
    at a time (postcodes after the rest, dates last), give the findings and evidence
    of one pass over everything."""
    segments = [Segment("body", " ".join(pieces)), Segment("subject", pieces[0])]
    whole = match(index, segments, [MARK])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(content, "_CHUNK", chunk)
        patch.setattr(gateway.match, "CHUNK", chunk)
        chunked = match(index, segments, [MARK])
    assert _as_tuple(whole) == _as_tuple(chunked)
