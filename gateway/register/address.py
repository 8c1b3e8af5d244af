"""Raw register addresses and message text -> the UK address parts both sides compare.

The parts are Royal Mail PAF's: sub-building (flat, unit, tenement position ``1/1``,
``2F1``), building name, building number with an optional letter suffix (``7C``, written
``7 C`` or ``7-c`` too) or a range (``7-9``), thoroughfare (a name and a descriptor,
which comes first in Welsh and Gaelic forms: ``Heol Newydd``), locality, post town
and postcode (outward ``AN``, ``ANN``, ``AAN``, ``AANN``, ``ANA``, ``AANA``, inward
``NAA``).  Descriptors map to one spelling (``Rd`` -> ``road``), postcodes lose their
spaces and case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.register.glyphs import clean
from gateway.register.normalise import tokens

# PAF thoroughfare descriptors that follow the name, with the abbreviations people
# write (tokenising drops dots, so ``Rd.`` is ``rd``).  Words that are far more often
# ordinary English than a descriptor (end, top, side, bank, cross) are left out.
_TYPES = {
    "road": ("rd",),
    "street": ("st", "str", "strt"),
    "avenue": ("ave", "av", "avn", "aven"),
    "lane": ("ln",),
    "drive": ("dr", "drv"),
    "close": ("cl", "cls"),
    "crescent": ("cres", "cresc", "cr", "crs"),
    "court": ("ct", "crt"),
    "place": ("pl",),
    "square": ("sq",),
    "gardens": ("gdns", "gdn", "gardns", "gds"),
    "terrace": ("terr", "ter", "tce", "trce"),
    "grove": ("gr", "gro", "grv"),
    "park": ("pk",),
    "way": ("wy",),
    "walk": ("wlk", "wk"),
    "mews": (),
    "row": (),
    "hill": (),
    "rise": (),
    "view": (),
    "green": ("grn",),
    "parade": ("pde",),
    "vale": (),
    "mount": ("mt",),
    "wharf": (),
    "yard": ("yd",),
    "quay": (),
    "boulevard": ("blvd",),
    "highway": ("hwy",),
    "circus": (),
    "croft": (),
    "gate": (),
    "chase": (),
    "fields": (),
    "meadow": (),
    "meadows": (),
    "brow": (),
    "approach": ("app",),
    "broadway": (),
    "embankment": (),
    "esplanade": ("esp",),
    "path": (),
    "passage": (),
    "alley": (),
    "heights": ("hts", "hgts"),
    "glade": (),
    "dale": (),
    # Further PAF descriptors.
    "arcade": (),
    "buildings": ("bldgs",),
    "causeway": ("cswy",),
    "circle": (),
    "copse": (),
    "cottages": ("cotts",),
    "dell": (),
    "drove": (),
    "garth": (),
    "glen": (),
    "grange": (),
    "hollow": (),
    "lawn": (),
    "lawns": (),
    "lea": (),
    "leys": (),
    "mall": (),
    "mead": (),
    "orchard": (),
    "paddock": (),
    "precinct": (),
    "promenade": ("prom",),
    "ride": (),
    "ridge": (),
    "villas": (),
    # Scottish descriptors.
    "brae": (),
    "wynd": (),
    "loan": (),
    "loaning": (),
    "gait": (),
    "vennel": (),
    "pend": (),
    "neuk": (),
}
# Welsh and Gaelic descriptors, written before the name (``Heol y Nant``); each keeps
# its own spelling, since ``Heol Newydd`` and ``Newydd Road`` are different streets.
LEADING_TYPES = frozenset(
    [
        "heol",
        "ffordd",
        "stryd",
        "lon",
        "rhodfa",
        "cilgant",
        "clos",
        "cwrt",
        "teras",
        "sgwar",
        "rhes",
        "llys",
        "maes",
        "sraid",
        "rathad",
    ]
)
# Misspellings of street types seen in real letters.
_MISSPELT = {
    "raod": "road",
    "steet": "street",
    "sreet": "street",
    "stret": "street",
    "streeet": "street",
    "avenu": "avenue",
    "avnue": "avenue",
    "aveune": "avenue",
    "cresent": "crescent",
    "crescant": "crescent",
    "cresecent": "crescent",
    "clsoe": "close",
    "terace": "terrace",
    "terrance": "terrace",
    "gardnes": "gardens",
    "gardes": "gardens",
    "drvie": "drive",
    "lnae": "lane",
    "plcae": "place",
    "sqaure": "square",
}
STREET_TYPES: dict[str, str] = dict(_MISSPELT)
for _canon, _abbrevs in _TYPES.items():
    STREET_TYPES[_canon] = _canon
    for _abbrev in _abbrevs:
        STREET_TYPES[_abbrev] = _canon
STREET_TYPES.update((word, word) for word in LEADING_TYPES)

FLAT_WORDS = frozenset(["flat", "apartment", "apt", "unit", "suite", "room"])
# A postcode as a register writes it: the two halves with or without one space.
POSTCODE_RE = re.compile(r"\b([A-Za-z]{1,2}\d[A-Za-z\d]?)\s*(\d[A-Za-z]{2})\b")
# A postcode as people type it in text (folded): the halves apart by up to three
# spaces, a hyphen or a dot (``cf24-4ln``, ``ls6  3qt``), or with spaces inside them
# (``cf 24 4 ln``).  Spaced forms take only the letters PAF allows in each position,
# so that ordinary words (``at 10am``, ``2 of``) are not read as one.
SEP = r"[ \t\-\u2013.]{0,3}"
_UNIT = "[abd-hjlnp-uw-z]"
OUTWARD_COMPACT = r"[a-z]{1,2}[0-9][a-z0-9]?"
OUTWARD_SPACED = r"[a-pr-uwyz] ?[a-hk-y]? ?[0-9](?: ?[0-9a-hjkmnp-y])?"
INWARD_COMPACT = r"[0-9][a-z]{2}"
INWARD_SPACED = rf"[0-9] ?{_UNIT} ?{_UNIT}"
POSTCODE_TEXT_RE = re.compile(
    rf"(?<![a-z0-9])(?:({OUTWARD_COMPACT}){SEP}({INWARD_COMPACT})"
    rf"|({OUTWARD_SPACED}){SEP}({INWARD_SPACED}))(?![a-z0-9])"
)
HOUSE_RE = re.compile(r"\d{1,4}[a-z]?")
# A tenement or Edinburgh flat position: ``2f1`` (second floor, flat 1).
TENEMENT_RE = re.compile(r"\d{1,2}f\d{1,2}")
# An Edinburgh stair flat: ``136/1`` is flat 1 of number 136 (the larger number first;
# ``3/27``, smaller first, is the English flat 3 of number 27).
SLASH_RE = re.compile(r"(?<![\d/])(\d{1,4})\s*/\s*(\d{1,4})(?![\d/])")
# A range of building numbers: ``7-9``, ``7 to 9`` (hyphen, en or em dash).
RANGE_RE = re.compile(r"(?<![\d/])(\d{1,4})\s*(?:[-\u2013\u2014]|\bto\b)\s*(\d{1,4})(?![\d/])")


# The postcode areas Royal Mail uses (the letters before the district number): a
# postcode-shaped phrase in another area ("on 27th" -> ON2 7TH) is not a postcode.
AREAS = frozenset([
    "ab", "al", "b", "ba", "bb", "bd", "bf", "bh", "bl", "bn", "br", "bs", "bt", "ca", "cb",
    "cf", "ch", "cm", "co", "cr", "ct", "cv", "cw", "da", "dd", "de", "dg", "dh", "dl", "dn",
    "dt", "dy", "e", "ec", "eh", "en", "ex", "fk", "fy", "g", "gl", "gu", "gy", "ha", "hd",
    "hg", "hp", "hr", "hs", "hu", "hx", "ig", "im", "ip", "iv", "je", "ka", "kt", "kw", "ky",
    "l", "la", "ld", "le", "ll", "ln", "ls", "lu", "m", "me", "mk", "ml", "n", "ne", "ng",
    "nn", "np", "nr", "nw", "ol", "ox", "pa", "pe", "ph", "pl", "po", "pr", "rg", "rh", "rm",
    "s", "sa", "se", "sg", "sk", "sl", "sm", "sn", "so", "sp", "sr", "ss", "st", "sw", "sy",
    "ta", "td", "tf", "tn", "tq", "tr", "ts", "tw", "ub", "w", "wa", "wc", "wd", "wf", "wn",
    "wr", "ws", "wv", "yo", "ze",
])  # fmt: skip


def real_area(postcode: str) -> bool:
    """Whether a canonical postcode's area letters are a Royal Mail postcode area."""
    letters = postcode[: 2 if postcode[1:2].isalpha() else 1].lower()
    return letters in AREAS


def canonical_postcode(outward: str, inward: str) -> str:
    return (outward + inward).replace(" ", "").upper()


def text_postcode(match: re.Match[str]) -> str:
    """The canonical postcode of a ``POSTCODE_TEXT_RE`` match."""
    if match.group(1):
        return canonical_postcode(match.group(1), match.group(2))
    return canonical_postcode(match.group(3), match.group(4))


def district(postcode: str) -> str:
    """The outward code of a canonical postcode (``LS63QT`` -> ``ls6``), folded."""
    return postcode[:-3].lower()


@dataclass(frozen=True, slots=True)
class AddressForm:
    """An address folded into the parts a match is checked against.

    ``street`` is the street name's tokens joined without spaces (``stjohnswood``);
    ``kind`` the canonical street type (``road``); ``words`` every token of the address
    but the postcode and a trailing country, and ``line`` the first line's tokens, for
    addresses with no recognisable street line (abroad, or a house name).
    ``building`` is the house name's tokens, ``anchor`` the street-name token next to
    the descriptor (what a text scan starts from), ``also`` the other numbers of a
    range (``7-9``) the building answers to.
    """

    house: str
    flat: str
    street: str
    kind: str
    town: tuple[str, ...]
    postcode: str
    words: tuple[str, ...]
    line: tuple[str, ...] = ()
    building: tuple[str, ...] = ()
    anchor: str = ""
    also: tuple[str, ...] = ()

    @property
    def has_street(self) -> bool:
        return bool(self.street and self.kind)


_CHUNK_RE = re.compile(r"[,;\n]+")


def has_postcode(text: str) -> bool:
    """Whether ``parse_address(text)`` finds a postcode (without the rest of its work)."""
    return POSTCODE_RE.search(clean(text)) is not None


def parse_address(text: str) -> AddressForm:
    """Free-text address -> its parts; never fails (missing parts stay empty).

    The street line is the first comma- or line-separated chunk holding a descriptor
    and a name with a building number before it (or, failing that, the first holding
    a descriptor and a name); its house number is the last number before the name, and
    an earlier number (``Flat 3``, ``3/27``) is the flat.
    """
    text = clean(text)  # read as message text is read, so "3º B" is "30 B" on both sides
    postcode = ""
    match = POSTCODE_RE.search(text)
    if match:
        postcode = canonical_postcode(*match.groups())
        text = text[: match.start()] + " " + text[match.end() :]
    ranges = [m.groups() for m in RANGE_RE.finditer(text)]
    stairs = [(a, b) for a, b in SLASH_RE.findall(text) if int(a) > int(b)]
    chunks = [c for c in (tokens(chunk) for chunk in _CHUNK_RE.split(text)) if c]
    # "..., Germany": a last line of one word, after two or more, is a country
    country = len(chunks) >= 3 and len(chunks[-1]) == 1 and chunks[-1][0].isalpha()
    words = tuple(w for chunk in (chunks[:-1] if country else chunks) for w in chunk)
    line = tuple(chunks[0]) if chunks else ()
    streets = [(i, s) for i, s in ((i, _street_of(c)) for i, c in enumerate(chunks)) if s]
    if not streets:
        return AddressForm("", "", "", "", (), postcode, words, line)
    index, (name, kind, lead, anchor) = next(
        ((i, s) for i, s in streets if any(HOUSE_RE.fullmatch(w) for w in s[2])), streets[0]
    )
    numbers = [n for chunk in chunks[:index] for n in _numbers(chunk)] + _numbers(lead)
    house = numbers[-1] if numbers else ""
    flat = numbers[-2] if len(numbers) > 1 else _flat_after(chunks[index + 1 :])
    also: tuple[str, ...] = ()
    if len(numbers) > 1 and (numbers[-2], house) in ranges:
        flat, also = _flat_after(chunks[index + 1 :]), (numbers[-2],)
    elif len(numbers) > 1 and (numbers[-2], house) in stairs:
        house, flat = numbers[-2], house
    town = tuple(
        w for c in chunks[index + 1 :] for w in c if not w.isdigit() and w not in FLAT_WORDS
    )
    building = _building(chunks[:index], lead)
    return AddressForm(house, flat, name, kind, town, postcode, words, line, building, anchor, also)


def _numbers(words: list[str]) -> list[str]:
    """Building and flat numbers of some words; a letter written apart from its
    number (``7 C``) is its suffix."""
    out: list[str] = []
    for i, word in enumerate(words):
        if HOUSE_RE.fullmatch(word):
            out.append(word)
        elif _is_suffix(words, i) and out:
            out[-1] += word
    return out


def _is_suffix(words: list[str], i: int) -> bool:
    return len(words[i]) == 1 and words[i].isalpha() and i > 0 and words[i - 1].isdigit()


def _building(before: list[list[str]], lead: list[str]) -> tuple[str, ...]:
    """The house name: the street line's words before the number, or the last line
    before the street line that holds no number and no flat word."""
    named = [w for w in lead if not w[0].isdigit() and w not in FLAT_WORDS and len(w) > 1]
    if named:
        return tuple(named)
    for chunk in reversed(before):
        if not any(w[0].isdigit() or w in FLAT_WORDS for w in chunk):
            return tuple(chunk)
    return ()


def _street_of(chunk: list[str]) -> tuple[str, str, list[str], str] | None:
    """(street name, canonical type, words before the name, the name's token next to
    the type) of one chunk, if any: a descriptor after its name, or a Welsh or Gaelic
    descriptor before it (``heol newydd``)."""
    for j in range(len(chunk) - 1, 0, -1):
        kind = STREET_TYPES.get(chunk[j])
        if kind is None or kind in LEADING_TYPES:
            continue
        start = j
        while start > 0 and not _stops_name(chunk, start - 1):
            start -= 1
        if start < j:
            return "".join(chunk[start:j]), kind, chunk[:start], chunk[j - 1]
    for j, word in enumerate(chunk[:-1]):
        if word in LEADING_TYPES and not chunk[j + 1][0].isdigit():
            name = [w for w in chunk[j + 1 :] if not w[0].isdigit()]
            return "".join(name), word, chunk[:j], chunk[j + 1]
    return None


def _stops_name(chunk: list[str], i: int) -> bool:
    word = chunk[i]
    return bool(HOUSE_RE.fullmatch(word)) or word in FLAT_WORDS or _is_suffix(chunk, i)


def _flat_after(chunks: list[list[str]]) -> str:
    for chunk in chunks:
        for i, word in enumerate(chunk[:-1]):
            if word in FLAT_WORDS and HOUSE_RE.fullmatch(chunk[i + 1]):
                return chunk[i + 1]
    return ""
