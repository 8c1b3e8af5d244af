"""Text as a reader sees it: invisible characters, unusual spaces, lookalikes, digit runs."""

from __future__ import annotations

import unicodedata

import pytest
from builders import MARKER, message, raw
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import extract
from gateway.register.confusables import reading_table
from gateway.register.glyphs import clean

DETAILS = [
    "Flat 3, 27 Kingfisher Road, Leeds LS6 3QT",
    "07700 900461",
    "sarah.w.safe@example.net",
    "Sarah Jane Whitmore",
    "born 17/04/1988",
]
_TABLE = reading_table()
# The right-to-left override is dropped too, but it visibly reverses what follows it
# (see test_overrides_marks_separators_and_ligatures_read_as_shown).
INVISIBLE = sorted(chr(c) for c, v in _TABLE.items() if v is None and c != 0x202E)
SPACES = sorted(chr(c) for c, v in _TABLE.items() if v == " ")
# Every character the table reads as exactly one given ASCII letter or digit.
LOOKALIKES: dict[str, list[str]] = {}
for _code, _value in sorted(_TABLE.items(), key=lambda item: item[0]):
    if _value is not None and len(_value) == 1 and _value.isalnum():
        LOOKALIKES.setdefault(_value, []).append(chr(_code))


def test_the_table_covers_the_scripts_that_imitate_latin() -> None:
    """Cyrillic, Greek, Armenian, Cherokee, fullwidth and mathematical letters are in it."""
    names = {unicodedata.name(c, "").split()[0] for chars in LOOKALIKES.values() for c in chars}
    assert {"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "FULLWIDTH", "MATHEMATICAL"} <= names


@settings(max_examples=200, deadline=None)
@given(
    detail=st.sampled_from(DETAILS),
    inserts=st.lists(
        st.tuples(st.integers(min_value=0, max_value=60), st.sampled_from(INVISIBLE)), max_size=8
    ),
)
def test_invisible_characters_inside_a_detail_are_dropped(
    detail: str, inserts: list[tuple[int, str]]
) -> None:
    """Zero-width, soft hyphens, joiners, BOMs, bidi and other format characters vanish."""
    noisy = detail
    for position, char in inserts:
        cut = position % (len(noisy) + 1)
        noisy = noisy[:cut] + char + noisy[cut:]
    assert detail == clean(noisy)


@settings(max_examples=150, deadline=None)
@given(detail=st.sampled_from(DETAILS), data=st.data())
def test_unusual_spaces_read_as_plain_spaces(detail: str, data: st.DataObject) -> None:
    """No-break, thin, ideographic and every other space separator is a plain space."""
    noisy = "".join(data.draw(st.sampled_from(SPACES)) if c == " " else c for c in detail)
    assert detail == clean(noisy)


@settings(max_examples=200, deadline=None)
@given(detail=st.sampled_from(DETAILS), data=st.data())
def test_lookalike_letters_and_digits_read_as_what_they_imitate(
    detail: str, data: st.DataObject
) -> None:
    """Any letter or digit swapped for any character that imitates it reads the same."""
    swapped = "".join(
        data.draw(st.sampled_from(LOOKALIKES[c]))
        if c in LOOKALIKES and data.draw(st.booleans())
        else c
        for c in detail
    )
    assert detail == clean(swapped)


PHONES = ["07700 900461", "07926 171947", "029 2049 6631", "+44 7700 900461"]
_AS_LETTER = {"0": "Oo", "1": "lI|"}


@settings(max_examples=200, deadline=None)
@given(phone=st.sampled_from(PHONES), data=st.data())
def test_letters_written_for_digits_in_a_number_read_as_digits(
    phone: str, data: st.DataObject
) -> None:
    """``O7700 9OO461``: O and o inside a run of digits are 0; l, I and | are 1."""
    written = "".join(
        data.draw(st.sampled_from(_AS_LETTER[c]))
        if c in _AS_LETTER and data.draw(st.booleans())
        else c
        for c in phone
    )
    assert f"Call {phone} now" == clean(f"Call {written} now")


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzOIL", min_size=1, max_size=9).filter(
    lambda w: bool(set(w) - set("OolI"))
)
_NUMBER = st.integers(min_value=0, max_value=10**8).map(str)


@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(st.one_of(_WORD, _NUMBER), min_size=1, max_size=20))
def test_ordinary_words_and_numbers_are_left_alone(tokens: list[str]) -> None:
    """Words with any other letter, and plain numbers, keep their O, o, l and I."""
    text = " ".join(tokens) + ". Hello, lol, 1st floor, Flat 1/1, O2 arena"
    expected = text.replace("O2 arena", "02 arena")  # a token of lookalikes and digits only
    assert expected == clean(text)


def test_accented_latin_and_other_scripts_keep_their_letters() -> None:
    """Accents are for the folding later; Chinese and Hindi text is untouched.

    (Arabic alef and Hebrew vav do imitate l and are read so, in any text.)"""
    text = "Zoë Müller, Straße, Ørsted; 北京市; नमस्ते"
    assert text == clean(text)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("Post to 27 \u202edaoR rehsifgniK\u202c, Leeds", "Post to 27 Kingfisher Road, Leeds"),
        ("Ki\u0308ngfi\u0301sher Road", "Kingfisher Road"),
        ("27 Kingfisher\u2028Road", "27 Kingfisher\nRoad"),
        ("\ufb01sh \u2163", "fish IV"),
    ],
)
def test_overrides_marks_separators_and_ligatures_read_as_shown(written: str, read: str) -> None:
    """A right-to-left override reads in display order; marks on letters, ligatures too."""
    assert read == clean(written)


def test_ascii_text_without_digit_runs_is_returned_as_it_is() -> None:
    """The common case costs no copy."""
    text = f"Dear Sarah, the letter about {MARKER} is attached. Call 0113 496 0000."
    assert text is clean(text)


def test_every_extracted_segment_is_cleaned() -> None:
    """A zero-width space inside the body's address is gone in the body segment."""
    body = "Lives at 27 King\u200bfi\u00adsher Road"
    segments = extract(raw(message(body=body, subject="Vis\u200bit"))).segments
    texts = {s.location: s.text for s in segments}
    assert ("Visit", f"Lives at {MARKER}") == (texts["subject"], texts["body"].strip())


@settings(max_examples=100, deadline=None)
@given(
    area=st.sampled_from(["L", "OL", "l", "ol"]),
    district=st.integers(1, 99),
    inward=st.from_regex(r"[0-9][ABD-HJLNP-UW-Z]{2}", fullmatch=True),
    space=st.sampled_from([" ", "  ", ""]),
)
def test_postcodes_whose_area_letters_look_like_digits_keep_them(
    area: str, district: int, inward: str, space: str
) -> None:
    """Liverpool (L) and Oldham (OL) postcodes are not digit runs: ``L10 4BT`` stays."""
    text = f"Her flat is at {area}{district}{space}{inward} now"
    assert text == clean(text)


@settings(max_examples=100, deadline=None)
@given(
    area=st.sampled_from(["5", "8", "6", "2"]),
    district=st.from_regex(r"[0-9Ool]{1,2}", fullmatch=True),
    inward=st.from_regex(r"[0-9][ABD-HJLNP-UW-Z0-9]{2}", fullmatch=True).filter(
        lambda inward: any(c.isalpha() for c in inward)
    ),
    space=st.sampled_from([" ", "  ", ""]),
)
def test_an_outward_code_whose_letter_was_read_as_a_digit_is_left_to_the_ocr_reading(
    area: str, district: str, inward: str, space: str
) -> None:
    """``5O1 0AA`` (``SO1 0AA`` as OCR read it) is an outward code before an inward one,
    not a digit run: its O stays a letter for the OCR reading to weigh."""
    text = f"Her flat is at {area}{district}{space}{inward} now"
    assert text == clean(text)


@settings(max_examples=100, deadline=None)
@given(
    start=st.sampled_from(["Fernh", "Wh", "Ch", "M", "Sm"]),
    mark=st.sampled_from(["'", "\u2019", "`", "-\n", "- \n"]),
    rest=st.from_regex(r"[1lI|][1lIiO|]{1,3}", fullmatch=True),
)
def test_a_word_going_on_after_a_mark_or_a_broken_line_is_no_digit_run(
    start: str, mark: str, rest: str
) -> None:
    """``Fernh'1ll`` and ``Fernh-\\n1ll`` are a word OCR broke, not the digits ``111``."""
    text = f"She moved to {start}{mark}{rest} Road"
    assert text == clean(text)
