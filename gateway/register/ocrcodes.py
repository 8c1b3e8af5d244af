"""OCR'd characters -> what they may have been printed as; postcodes by PAF's positions.

The lookalike tables OCR's readers share (``ocrread``), and the postcodes a pair of
OCR'd tokens may be: each position read as the class PAF gives it (``SWIA IAA`` ->
``SW1A 1AA``: outward ``AN``, ``ANN``, ``AAN``, ``AANN``, ``ANA``, ``AANA``, inward
``NAA`` without C I K M O V), in a real postcode area.
"""

from __future__ import annotations

import functools
from itertools import product

from gateway.register import address as A

# Lookalikes OCR reads for a digit, by the digit they stand for ("!" is left out: it
# ends sentences after numbers).
_DIGIT_LIKE = {"0": "OoDQ", "1": "lIi|", "5": "Ss", "8": "B", "2": "Zz", "6": "Gb", "9": "gq"}
AS_DIGIT = {c: digit for digit, chars in _DIGIT_LIKE.items() for c in chars}
# Digits and bars OCR reads for a capital, and the capitals each may stand for.
AS_CAPITALS = {
    "0": "ODQ",
    "1": "IL",
    "|": "IL",
    "!": "IL",
    "5": "S",
    "8": "B",
    "2": "Z",
    "6": "G",
    "9": "GQ",
}
# Capitals OCR takes for each other, tried where the capital read cannot stand.
_CAPITAL_ALTS = {"O": "DQ", "D": "O", "Q": "O", "I": "L", "L": "I"}

# --- postcodes (PAF): which positions are letters, and which letters -------------------
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_UNIT = frozenset("ABDEFGHJLNPQRSTUWXYZ")  # the inward code's letters: no C I K M O V
_ANA_THIRD = frozenset("ABCDEFGHJKPSTUW")  # E1W, N1C, W1A
_AANA_FOURTH = frozenset("ABEHMNPRVWXY")  # EC1A, SW1A, SE1P, NW1W
_ANA_AREAS = frozenset({"E", "N", "W"})
_AANA_AREAS = frozenset({"EC", "SW", "SE", "WC", "NW"})
_OUTWARD = {
    2: ("AN",),
    3: ("ANN", "AAN", "ANA"),
    4: ("AANN", "AANA"),
}
_CLASS = {"A": _LETTERS, "N": _DIGITS, "U": _UNIT, "3": _ANA_THIRD, "4": _AANA_FOURTH}
#: characters changed in one postcode at most (OCR garbles a few, not a whole code)
MAX_POSTCODE_CHANGES = 3
_MAX_PRODUCT = 256


@functools.lru_cache(maxsize=4096)  # the reading's glue check and its postcode pass ask alike
def postcode_readings(outward: str, inward: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The postcodes an OCR'd pair of tokens may be, canonical: those with the fewest
    changes, and those with one change more (``0Ab``: ``0AB``, then ``0AG`` as ``b``
    for ``6`` for ``G``).  None when it is one as written; empty when it cannot be one,
    or when nothing in it says it is meant as one (a number, a lower-case word: a
    postcode is in capitals)."""
    if _valid(outward.upper(), inward.upper()) and outward[0].isalpha():
        return None
    if not _says_postcode(outward, inward):
        return (), ()
    found = _scored(outward, inward)
    if not found:
        return (), ()
    fewest = min(found.values())
    best = tuple(sorted(code for code, n in found.items() if n == fewest))
    return best, tuple(sorted(code for code, n in found.items() if n == fewest + 1))


def _says_postcode(outward: str, inward: str) -> bool:
    """Whether anything in an OCR'd pair says it is meant as a postcode: letters where
    an inward code has them, or an outward code before a digit-like inward one
    (``SW1A 556``, ``M5 S66``); an outward code of digits only before an inward code's
    letters, one perhaps a digit's lookalike (``51 0AA``: ``S1 0AA``; ``513 45L``).
    Not a number (``110 100``, a phone's ``9231Z5``), nor words (lower case that is no
    digit's lookalike, and no digit; more lower case than capitals)."""
    both = outward + inward
    if not any(c.isdigit() for c in both) and any(c.islower() and c not in AS_DIGIT for c in both):
        return False
    if sum(c.islower() for c in both) > sum(c.isupper() for c in both):
        return False  # a word's end and the next word's start (``Mi llb``)
    if not any(c.isalpha() for c in outward):
        unit = [{c} if c.isalpha() else set(AS_CAPITALS.get(c, "")) for c in inward[1:].upper()]
        first = inward[:1]
        return (
            (first in _DIGITS or first in AS_DIGIT)
            and any(c.isalpha() for c in inward[1:])
            and all(letters & _UNIT for letters in unit)
        )
    area = outward[0] if outward[0].isalpha() else AS_CAPITALS.get(outward[0], "?")[:1]
    read = area + "".join(AS_DIGIT.get(c, c) for c in outward[1:])  # ``WlA``, ``DLI0``, ``5W1A``
    return any(c.isalpha() for c in inward) or any(
        _valid_outward(form.upper()) for form in (outward, read)
    )


def lookalike_postcodes(outward: str, inward: str) -> tuple[str, ...]:
    """The other postcodes a valid one reads as with one character read as its
    lookalike (``L56 3QT``: ``LS6 3QT``; ``Ml8 6DH``, read ``ML8``: ``M18 6DH``; ``DL1``:
    ``OL1``; ``7Yb``, read ``7YB``: ``7YG``), as OCR wrote it, its case kept."""
    return tuple(sorted(code for code, n in _scored(outward, inward).items() if n == 1))


def _scored(outward: str, inward: str) -> dict[str, int]:
    """Every postcode the pair may be with up to ``MAX_POSTCODE_CHANGES`` of OCR's
    confusions undone, and how many."""
    both = outward + inward
    found: dict[str, int] = {}
    for form in _OUTWARD.get(len(outward), ()):
        options = [_options(c, kind) for c, kind in zip(both, form + "NUU", strict=True)]
        size = 1
        for option in options:
            size *= len(option)
        if not size or size > _MAX_PRODUCT:
            continue
        for picked in product(*options):
            code = "".join(c for c, _ in picked)
            changes = sum(n for _, n in picked)
            if changes <= MAX_POSTCODE_CHANGES and _area_fits(code[: len(outward)], form):
                found[code] = min(changes, found.get(code, changes))
    return found


def _options(char: str, kind: str) -> list[tuple[str, int]]:
    """What one character may be in a position of class ``kind``, with 1 for a change."""
    allowed = _CLASS[kind]
    if kind == "N":
        if char.isdigit():
            return [(char, 0)]
        digit = AS_DIGIT.get(char)
        return [(digit, 1)] if digit else []
    if not char.isalpha():
        return [(c, 1) for c in AS_CAPITALS.get(char, "") if c in allowed]
    upper = char.upper()
    same = [(upper, 0)] if upper in allowed else []
    alts = _CAPITAL_ALTS.get(upper, "")
    if char.islower():  # what OCR writes for a digit it took a capital for (``b``: ``6``, ``G``)
        alts += AS_CAPITALS.get(AS_DIGIT.get(char, ""), "")
    return same + [(c, 1) for c in dict.fromkeys(alts) if c in allowed and c != upper]


def _valid(outward: str, inward: str) -> bool:
    """A postcode PAF allows (and in a real area), written as given."""
    if len(inward) != 3 or inward[0] not in _DIGITS or not set(inward[1:]) <= _UNIT:
        return False
    return _valid_outward(outward)


def _valid_outward(outward: str) -> bool:
    return any(
        _area_fits(outward, form) and all(map(_fits, outward, form))
        for form in _OUTWARD.get(len(outward), ())
    )


def _fits(char: str, kind: str) -> bool:
    return char in _CLASS[kind]


def _area_fits(outward: str, form: str) -> bool:
    area = outward[: form.index("N")]
    if form == "ANA":
        return area in _ANA_AREAS
    if form == "AANA":
        return area in _AANA_AREAS
    return area.lower() in A.AREAS


def one_apart(found: str, postcode: str) -> bool:
    """Two canonical postcodes that differ in one character: in OCR'd text, the one
    found may be the other misread (``OL96ST`` for ``OL96SU``)."""
    if len(found) != len(postcode):
        return False
    return sum(a != b for a, b in zip(found, postcode, strict=True)) == 1
