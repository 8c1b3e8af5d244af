"""Extraction keeps to the scan's deadline when it is given one (extract and match
share one budget), and to its own budget from now when it is not."""

from __future__ import annotations

import time

from gateway.budget import Deadline
from gateway.extract import Limits, extract
from gateway.extract.context import Context

RAW = b"From: a@council.example\r\nTo: b@partner.example\r\nSubject: Visit\r\n\r\nHello\r\n"


def test_a_passed_scan_deadline_stops_extraction() -> None:
    """Given a deadline already passed, the message is unreadable, over time budget,
    however long its own budget would be."""
    result = extract(RAW, Limits(time_budget_s=60), Deadline(time.monotonic() - 1))
    assert [("message", "over time budget")] == [(u.location, u.reason) for u in result.unreadable]


def test_a_scan_deadline_ahead_reads_everything() -> None:
    """The benign twin: with the deadline ahead, the message is read in full."""
    result = extract(RAW, Limits(), Deadline.after(60))
    assert () == result.unreadable
    assert "Hello" in [s.text.strip() for s in result.segments if s.location == "body"]


def test_without_a_deadline_extraction_gets_its_budget_from_now() -> None:
    """A context made without a deadline ends its budget ``time_budget_s`` from now."""
    before = time.monotonic()
    ctx = Context(Limits(time_budget_s=5))
    assert before + 5 <= ctx.deadline <= time.monotonic() + 5
