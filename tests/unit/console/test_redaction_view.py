"""The message page's words for a redaction that hides nothing."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import dataclasses

from gateway.console import view as V
from gateway.console.view import REDACTION_NOTE, message_view, redaction_notes
from gateway.extract import Limits
from gateway.findings import REDACTABLE, Kind
from tests.unit.console.test_view import _held

PDF = "attachment:report.pdf"


def _f(kind: str, case: str | None = "DA-1", where: str = PDF, hidden: bool = True) -> dict:
    out = {"kind": kind, "case": case, "location": where, "confidence": "high", "score": 100}
    return out | ({"hidden": "redaction"} if hidden else {})


def test_a_failed_redaction_is_explained_with_the_kinds_it_hides() -> None:
    """The note says what a failed redaction is and which kinds of detail are under
    it, in the order found, for its case and place only."""
    findings = [
        _f("restricted_recipient", where="envelope", hidden=False),
        _f("address"),
        _f("phone"),
        _f("address", hidden=False),  # on the page's surface: not under the box
        _f("email", where="attachment:other.pdf"),  # another place
        _f("name", case="DA-2"),  # another case
        _f("failed_redaction"),
    ]
    notes = redaction_notes(findings)
    assert [6] == list(notes)
    assert notes[6].startswith(REDACTION_NOTE)
    assert notes[6].endswith("It carries an address and a phone number of case DA-1.")


def test_the_note_carries_no_text_of_the_message() -> None:
    """Only kinds and the case id: the message page's view holds the note, and the
    note never holds a protected value."""
    held = dataclasses.replace(
        _held("Report attached.", []), findings=[_f("postcode"), _f("failed_redaction")]
    )
    view = message_view(held, Limits())
    assert {1: f"{REDACTION_NOTE} It carries a postcode of case DA-1."} == dict(view.notes)


def test_every_redactable_kind_has_words() -> None:
    """A new kind of protected detail cannot be left out of the note."""
    assert {k.value for k in REDACTABLE} == set(V._DETAIL_WORDS)
    assert "failed_redaction" == Kind.FAILED_REDACTION.value


def test_a_message_without_redactions_has_no_notes() -> None:
    """Findings as before: no note, parts not marked hidden."""
    view = message_view(_held("She lives at 27 Kingfisher Road now.", []), Limits())
    assert {} == dict(view.notes)
    assert {""} == {p.hidden for p in view.parts}
