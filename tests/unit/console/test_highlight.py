"""Highlights in a part's text: every evidence span inside one, whole characters, no
overlaps, and the spans of one detail shown as one highlight."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from gateway.console.highlight import _continues, highlights, pieces

ADDRESS = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"
TEXT = f"She lives at {ADDRESS} now."
AT = TEXT.index(ADDRESS)

# Letters, separators, combining accents, joiners and an astral character.
_CHARS = st.sampled_from([*"ab ,.\n3", "\u0301", "\u200d", "\ufe0f", "\U0001f600", "é"])


@st.composite
def text_and_spans(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, int]]]:
    text = "".join(draw(st.lists(_CHARS, min_size=1, max_size=40)))
    spans = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        spans.append((start, end, draw(st.integers(0, 3))))
    return text, spans


@given(text_and_spans())
def test_every_span_is_inside_one_highlight_and_none_overlap(
    case: tuple[str, list[tuple[int, int, int]]],
) -> None:
    """Pieces give back the text; highlights are sorted and apart; each evidence span
    lies inside one highlight that names its finding; no boundary cuts a character."""
    text, spans = case
    cut = pieces(text, spans)
    assert text == "".join(p.text for p in cut)
    marks = highlights(text, spans)
    for (_, end, _), (start, _, _) in itertools.pairwise(marks):
        assert end <= start
    for start, end, number in spans:
        (inside,) = [m for m in marks if m[0] <= start and end <= m[1]]
        assert number in inside[2]
    for start, end, _ in marks:
        assert start == 0 or not _continues(text[start])
        assert end == len(text) or not _continues(text[end])


def test_spans_of_one_address_are_one_highlight() -> None:
    """Flat, street line and postcode seen apart are marked as one address."""
    flat = (AT, AT + len("Flat 3"), 1)
    street = (TEXT.index("27"), TEXT.index(", Leeds"), 1)
    postcode = (TEXT.index("LS6"), TEXT.index(" now"), 1)
    texts = [(p.text, p.findings) for p in pieces(TEXT, [street, postcode, flat])]
    assert [("She lives at ", ()), ("Flat 3, 27 Kingfisher Road", (1,))] == texts[:2]
    assert [(", Leeds, ", ()), ("LS6 3QT", (1,)), (" now.", ())] == texts[2:]


def test_overlapping_findings_share_one_highlight() -> None:
    """A name and its shorter form, and another finding over them, make one highlight."""
    text = "Dear Sarah Jane Whitmore,"
    name = text.index("Sarah")
    spans = [(name, name + 19, 4), (name + 6, name + 19, 4), (name + 11, name + 19, 7)]
    assert [(name, name + 19, (4, 7))] == highlights(text, spans)


def test_evidence_outside_the_text_is_dropped() -> None:
    """Offsets past the end of the text mark nothing."""
    assert [] == highlights("short", [(3, 99, 0), (-1, 2, 0)])


def test_an_accent_stays_with_its_letter() -> None:
    """A span ending before a combining accent takes the accent in."""
    text = "Rene\u0301e"
    assert [(0, 5, (0,))] == highlights(text, [(0, 4, 0)])
