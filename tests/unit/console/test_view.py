"""The message page's data: evidence cut out of the part text, restricted recipients marked."""

from __future__ import annotations

import datetime as dt

from gateway.console.view import message_view
from gateway.extract import Limits
from gateway.store import HeldMessage

ADDRESS = "27 Kingfisher Road"
LIMITS = Limits()


def _held(body: str, evidence: list[dict[str, object]]) -> HeldMessage:
    raw = (
        "From: officer@council.example.gov.uk\r\nTo: Mark <mark.whitmore@example.com>\r\n"
        f"Subject: Visit\r\n\r\n{body}\r\n"
    ).encode()
    return HeldMessage(
        id="Q1",
        received_at=dt.datetime.now(dt.UTC),
        mail_from="officer@council.example.gov.uk",
        rcpt_tos=("mark.whitmore@example.com", "team@council.example.gov.uk"),
        raw=raw,
        action="quarantine",
        severity="critical",
        rules=("r",),
        findings=[
            {"kind": "restricted_recipient", "case": "DA-1", "location": "header:to"},
            {"kind": "address", "case": "DA-1", "location": "body"},
        ],
        evidence=evidence,
    )


def test_evidence_is_cut_out_of_the_body() -> None:
    """The body is split into plain text and the evidence span, numbered by finding."""
    body = f"She lives at {ADDRESS} now."
    view = message_view(
        _held(
            body,
            [
                {
                    "finding": 1,
                    "location": "body",
                    "start": 13,
                    "end": 13 + len(ADDRESS),
                    "text": ADDRESS,
                },
            ],
        ),
        LIMITS,
    )
    (part,) = [p for p in view.parts if p.location == "body"]
    first, evidence, rest = ((p.text, p.finding) for p in part.pieces)
    assert (("She lives at ", None), (ADDRESS, 1)) == (first, evidence)
    assert (" now.", None) == (rest[0].rstrip(), rest[1])
    assert 1 == part.marked


def test_offsets_that_do_not_fit_fall_back_to_finding_the_text() -> None:
    """Evidence whose offsets point elsewhere is found by its text."""
    view = message_view(
        _held(
            f"Address: {ADDRESS}",
            [
                {"finding": 1, "location": "body", "start": 0, "end": 3, "text": ADDRESS},
            ],
        ),
        LIMITS,
    )
    (part,) = [p for p in view.parts if p.location == "body"]
    assert [ADDRESS] == [p.text for p in part.pieces if p.finding is not None]


def test_restricted_recipients_are_marked_with_their_case() -> None:
    """The recipient named by a restricted-recipient finding is marked; others are not."""
    view = message_view(
        _held(
            "hello",
            [
                {
                    "finding": 0,
                    "location": "header:to",
                    "start": 0,
                    "end": 25,
                    "text": "mark.whitmore@example.com",
                },
            ],
        ),
        LIMITS,
    )
    assert [("mark.whitmore@example.com", "DA-1"), ("team@council.example.gov.uk", None)] == [
        (r.address, r.case) for r in view.recipients
    ]
    assert ("Subject", "Visit") in view.headers


def test_a_held_message_is_read_again_within_the_limits_given() -> None:
    """The view re-reads a message within the scan's limits: with no time left, it
    shows the message as unreadable, over time budget, instead of reading on."""
    view = message_view(_held(f"She lives at {ADDRESS} now.", []), Limits(time_budget_s=0))
    assert (("message", "over time budget"),) == view.unreadable
