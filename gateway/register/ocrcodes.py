"""OCR'd characters -> what they may have been printed as; postcodes by PAF's positions.

The lookalike tables OCR's readers share (``ocrread``), and the postcodes a pair of
OCR'd tokens may be: each position read as the class PAF gives it (``SWIA IAA`` ->
``SW1A 1AA``: outward ``AN``, ``ANN``, ``AAN``, ``AANN``, ``ANA``, ``AANA``, inward
``NAA`` without C I K M O V), in a real postcode area.
"""

from __future__ import annotations

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


def postcode_readings(outward: str, inward: str) -> tuple[str, ...] | None:
    """The postcodes an OCR'd pair of tokens may be, canonical, fewest changes first:
    None when it is one as written; empty when it cannot be one, or when nothing in it
    says it is meant as one (a number, a lower-case word: a postcode is in capitals)."""
    if _valid(outward.upper(), inward.upper()) and outward[0].isalpha():
        return None
    both = outward + inward
    has_digit = any(c.isdigit() for c in both)
    lower_words = any(c.islower() and c not in AS_DIGIT for c in both)
    if lower_words and not has_digit:
        return ()
    if not any(c.isalpha() for c in inward[1:]) or not any(c.isalpha() for c in outward):
        return ()  # ``110 100``, ``9231Z5`` (a phone's digits) are not postcodes
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
    if not found:
        return ()
    fewest = min(found.values())
    return tuple(sorted(code for code, n in found.items() if n == fewest))


def lookalike_postcodes(outward: str, inward: str) -> tuple[str, ...]:
    """The other postcodes a valid one reads as when one character of its outward code
    is the lookalike of the other class (``L56 3QT``: ``LS6 3QT``)."""
    found = set()
    for at, char in enumerate(outward):
        for other in AS_CAPITALS.get(char, "") if char.isdigit() else AS_DIGIT.get(char, ""):
            changed = outward[:at] + other + outward[at + 1 :]
            if _valid(changed, inward):
                found.add(changed + inward)
    return tuple(sorted(found))


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
    return same + [(c, 1) for c in _CAPITAL_ALTS.get(upper, "") if c in allowed]


def _valid(outward: str, inward: str) -> bool:
    """A postcode PAF allows (and in a real area), written as given."""
    if len(inward) != 3 or inward[0] not in _DIGITS or not set(inward[1:]) <= _UNIT:
        return False
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
