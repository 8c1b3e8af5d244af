"""Cleaned text reaches the matcher: lookalikes find details, foreign words do not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.match import Index
from gateway.register.confusables import reading_table
from gateway.register.glyphs import clean
from tests.unit.match.conftest import Scanner, kinds

_CYRILLIC = {"K": "\u041a", "o": "\u043e", "e": "\u0435", "a": "\u0430", "S": "\u0405"}
_GREEK = {"T": "\u03a4", "S": "\u03a3", "Q": "\u051a"}  # Greek T; Sigma and Qa are not


def test_an_address_in_cyrillic_lookalikes_is_found(scan: Scanner) -> None:
    """Cyrillic letters that imitate Latin ones do not hide the address."""
    text = "Post to Flat 3, 27 Kingfisher Road, Leeds LS6 3QT".translate(str.maketrans(_CYRILLIC))
    assert ("address", "DA-1") in kinds(scan(clean(text)))


def test_a_phone_with_letters_for_digits_is_found(scan: Scanner) -> None:
    """``O77OO 9OO46l`` is the protected phone number."""
    assert ("phone", "DA-1") in kinds(scan(clean("Call O77OO 9OO46l after six")))


def test_a_russian_transliteration_of_the_details_is_not_a_match(scan: Scanner) -> None:
    """Russian words for the name and street are other letters, not lookalikes."""
    text = "Сара Уитмор живёт на Кингфишер-роуд 27 в Лидсе, индекс неизвестен."  # noqa: RUF001
    assert set() == kinds(scan(clean(text)))


_RUSSIAN = st.text(alphabet="абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИКЛМНОПРСТУ ", max_size=200)
_GREEK_TEXT = st.text(alphabet="αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ ", max_size=200)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(_RUSSIAN, _GREEK_TEXT))
def test_ordinary_cyrillic_and_greek_text_matches_nothing(index: Index, text: str) -> None:
    """Random Russian or Greek letters, read as their lookalikes, find no detail."""
    scan = Scanner(index)
    assert set() == kinds(scan(clean(text)))


def test_every_lookalike_reads_as_one_ascii_letter_digit_or_nothing() -> None:
    """The table maps to ASCII letters and digits (or drops, or spaces), nothing else."""
    values = {v for v in reading_table().values() if v is not None}
    assert all(v in (" ", "\n") or (v.isascii() and v.isalnum()) for v in values)


def test_a_greek_capital_in_a_postcode_is_read_as_latin(scan: Scanner) -> None:
    """Greek capital Tau in ``LS6 3QT`` is a T: the postcode is found."""
    text = "Leeds LS6 3QT".replace("T", _GREEK["T"])
    assert ("postcode", "DA-1") in kinds(scan(clean(text)))


def test_a_letter_that_imitates_nothing_keeps_the_postcode_unread(scan: Scanner) -> None:
    """Greek capital Sigma does not look like S: ``LΣ6 3QT`` is not the postcode."""
    text = "Leeds LS6 3QT".replace("S", _GREEK["S"])
    assert ("postcode", "DA-1") not in kinds(scan(clean(text)))
