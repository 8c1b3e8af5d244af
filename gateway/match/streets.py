"""A protected street or house name hit -> what the words around it make of it.

A street named without a number before it is the protected address when its number
follows (``Kingfisher Road, number 27``, ``Kingfisher Rd #27``) or its house name
precedes it (``The Willows, Mill Lane``); it is the partial finding ``street`` when its
town or postcode district stands beside it (``moved to Kingfisher Road in Leeds``,
``Kingfisher Road, LS6``); another number, or another postcode, makes it another
address.  A house name alone is nothing: it needs its street, town or postcode.
Texts are folded; spans are character offsets.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.findings import Confidence, Kind
from gateway.match import content as C
from gateway.register import address as A
from gateway.register import normalise as N
from gateway.register.ocrcodes import one_apart
from gateway.register.ocrread import ocr_skeleton

Scored = tuple[Kind, int, Confidence]

# The number after a street: ``, number 27``, ``no. 27``, ``#27``, ``(no 27c)``, ``27``;
# a word for "number" is followed by a dot or a space (``NR1``, a Norwich postcode
# district, is no ``nr 1``).
NUMBER_AFTER_RE = re.compile(
    r"\.?[ \t]*(?:[,:;(\-][ \t]*)?(?:at[ \t]+)?"
    r"(?:((?:house[ \t]+)?(?:number|no|nr|num)(?:\.[ \t]*|[ \t]+)|#[ \t]*))?"
    r"([0-9]{1,4})(?:[ \t]?-?[ \t]?([a-z]))?(?![a-z0-9])"
)
# Words of a town that say nothing on their own (``Newton-le-Willows``, ``East Ham``).
_TOWN_NOISE = frozenset(
    [
        "the",
        "upon",
        "on",
        "in",
        "le",
        "by",
        "under",
        "over",
        "new",
        "old",
        "east",
        "west",
        "north",
        "south",
        "great",
        "little",
        "st",
    ]
)


def score_street(
    text: str, span: tuple[int, int], form: tuple[Any, ...], ocr: bool = False
) -> Scored | None:
    """A street hit ``text[span]`` of the address ``form`` (a record's address tuple)
    -> an address or street finding, or None.  ``ocr``: the text was read off an image,
    so its town may be spelled as OCR misreads it (``Leecls``).  A number after the
    street that can be read two ways (``number 1 A B1 0AA``: house 1A in B1 0AA, or
    house 1 in AB1 0AA) is the address when either reading is."""
    start, end = span
    before = N.folded_tokens(text[max(0, start - 60) : start])
    if _number_before(before):  # "27 Kingfisher Road" is the address probe's
        return None
    readings: list[Reading | None] = [*_readings_after(text, end)] or [None]
    scores = [_score_reading(text, span, form, ocr, before, r) for r in readings]
    return next((s for s in scores if s and s[0] == Kind.ADDRESS), scores[0])


# A building number read after a street: the number as written (``1a``), whether a word
# marks it as one (``number``, ``#``), and where the text after it starts.
Reading = tuple[str, bool, int]


def _readings_after(text: str, end: int) -> list[Reading]:
    """The readings of the building number written after a street, if one is: the
    number with its suffix letter and, when the letter stands apart from it, also the
    number alone, the letter then being where a postcode may start (``1 A B1 0AA``)."""
    number = NUMBER_AFTER_RE.match(text, end)
    if number is None or not _is_house_after(text, number):
        return []
    marked = bool(number.group(1))
    whole = (number.group(2) + (number.group(3) or ""), marked, number.end())
    if not number.group(3) or number.end(2) == number.start(3):
        return [whole]
    return [whole, (number.group(2), marked, number.end(2))]


def _score_reading(
    text: str,
    span: tuple[int, int],
    form: tuple[Any, ...],
    ocr: bool,
    before: list[str],
    reading: Reading | None,
) -> Scored | None:
    """``score_street`` for one reading of the number after the street (None: none)."""
    house, _flat, _street, _kind, town, postcode, _words, building, also = form
    found = C.postcode_after(text, reading[2] if reading else span[1])
    # A different postcode after it: another street of that name.
    other = found != postcode and not (ocr and one_apart(found or "", postcode))
    if postcode and found and other:
        return None
    if reading is not None:
        if reading[0] in (house, *also):
            return Kind.ADDRESS, 100 if found else 95, Confidence.HIGH
        if reading[1]:  # "number 29": a neighbour's house
            return None
    if building and _contains(before, building):
        return Kind.ADDRESS, 90, Confidence.HIGH
    near = C.words_near(text, span[0], span[1], before=60, after=60)
    placed = _placed(near, town, postcode, found, ocr)
    return (Kind.STREET, 70, Confidence.MEDIUM) if placed else None


def score_building(
    text: str, span: tuple[int, int], form: tuple[Any, ...]
) -> tuple[int, Confidence] | None:
    """A house-name word hit -> an address score when the whole house name is there
    with its street (high), or its town or postcode (medium); else None."""
    _house, _flat, street, kind, town, postcode, _words, building, _also = form
    near = C.words_near(text, span[0], span[1], before=60, after=100)
    if not _contains(near, building):
        return None
    found = C.postcode_after(text, span[1], span=160)
    if postcode and found and found != postcode:
        return None
    if street and _street_in(near, street, kind):
        return 90, Confidence.HIGH
    if _placed(near, town, postcode, found):
        return 80, Confidence.MEDIUM
    return None


def _number_before(before: list[str]) -> bool:
    """Whether the words before a street end with a building number (``27``, ``7 c``),
    not a flat's (``Flat 3``)."""
    if before and len(before[-1]) == 1 and before[-1].isalpha():
        before = before[:-1] if len(before) > 1 and before[-2].isdigit() else []
    if not before or not A.HOUSE_RE.fullmatch(before[-1]):
        return False
    return len(before) < 2 or before[-2] not in A.FLAT_WORDS


def _is_house_after(text: str, number: re.Match[str]) -> bool:
    """A number after a street is its building number when a word says so (``no``,
    ``#``), or when no street descriptor follows it (``, 27 Elm Street`` is another
    address)."""
    if number.group(1):
        return True
    after = N.folded_tokens(text[number.end() : number.end() + 40])[:3]
    return not any(w in A.STREET_TYPES for w in after)


def _placed(
    near: list[str], town: tuple[str, ...], postcode: str, found: str | None, ocr: bool = False
) -> bool:
    """The town, the postcode district or the postcode itself stands nearby (in OCR'd
    text, a word that reads as the town's with OCR's confusions)."""
    if postcode and (found == postcode or A.district(postcode) in near):
        return True
    places = {w for w in town if len(w) >= 3 and w not in _TOWN_NOISE}
    if ocr and places.isdisjoint(near):
        return not {ocr_skeleton(w) for w in places}.isdisjoint(map(ocr_skeleton, near))
    return not places.isdisjoint(near)


def _contains(words: list[str], name: tuple[str, ...]) -> bool:
    """``name``'s words, in order and side by side, among ``words`` (``the`` optional)."""
    name = tuple(w for w in name if w != "the") or name
    size = len(name)
    return any(tuple(words[i : i + size]) == name for i in range(len(words) - size + 1))


def _street_in(words: list[str], street: str, kind: str) -> bool:
    """The street's name and descriptor, in either order the descriptor allows."""
    for j, word in enumerate(words):
        if A.STREET_TYPES.get(word) != kind:
            continue
        name = words[j + 1 : j + 4] if kind in A.LEADING_TYPES else words[max(0, j - 5) : j]
        joined = "".join(name)
        if joined.startswith(street) if kind in A.LEADING_TYPES else joined.endswith(street):
            return True
    return False
