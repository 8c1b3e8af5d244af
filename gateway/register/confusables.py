"""Unicode confusables (TR39) -> what a reader takes a character for.

Two things are built here, once per process and on first use: a ``str.translate``
table that reads text the way a reader sees its letters (invisible characters gone,
unusual spaces plain, lookalike letters and digits as the ASCII ones they imitate), and
``skeleton``, which also merges the ASCII lookalikes (``rn``/``m``, ``0``/``o``...) so
that two addresses a reader cannot tell apart compare equal.

The lookalike data is the Unicode confusables file (TR39) as shipped in
``confusable_homoglyphs`` (``confusables.json``: a prototype and the characters that
imitate it).  Only prototypes that are one ASCII letter or digit are used.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from importlib import resources

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
#: Marks that make the data file's right-to-left characters display in order.
_BIDI_WRAP = "\u200e\u200f"

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt) beyond category Cf: fillers,
# variation selectors and reserved ranges that render as nothing.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x2065, 0x2065),
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),  # musical formatting
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement
)
# Planes with every character the table needs: BMP, SMP (mathematical alphanumerics,
# enclosed and segmented digits), and the tags / variation selectors of plane 14.
_SCANNED = ((0x80, 0x1FFFF), (0xE0000, 0xE0FFF))
#: Blank-looking characters outside the space categories.
_BLANKS = "\u2800\u3000"
_LINE_BREAKS = "\u0085\u2028\u2029"

# ASCII sequences a reader confuses in an address, merged by ``skeleton``; applied in
# order, after case folding.
_ASCII_LOOKALIKES = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_ASCII_SINGLES = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l"})


def _prototypes() -> dict[str, str]:
    """Each character that imitates one ASCII letter or digit -> that prototype."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    found: dict[str, str] = {}
    for key, entries in data.items():
        if key not in _ALNUM:
            continue
        for entry in entries:
            char = entry["c"].strip(_BIDI_WRAP)
            if len(char) == 1 and not char.isascii():
                found[char] = key
    return found


def _ascii_of(char: str, prototype: str) -> str:
    """The ASCII character ``char`` is read as, keeping case and digit-ness.

    TR39 folds ``1``/``I``/``l`` into ``l`` and ``0``/``O`` into ``O``; a reader tells a
    digit from a capital from a small letter, so the choice follows ``char`` itself."""
    numeric = unicodedata.numeric(char, None)
    if prototype == "l":
        return "1" if numeric == 1 else "I" if char.isupper() else "l"
    if prototype == "O":
        return "0" if numeric == 0 else "o" if char.islower() else "O"
    if char.islower():
        return prototype.lower()
    return prototype.upper() if char.isupper() else prototype


def _compatibility(char: str) -> str | None:
    """Fullwidth, mathematical, enclosed forms and ligatures -> their ASCII letters."""
    decomposed = unicodedata.normalize("NFKD", char)
    if decomposed == char or not decomposed.isascii() or not decomposed.isalnum():
        return None
    if len(decomposed) == 1:
        return decomposed
    return decomposed if len(decomposed) <= 4 and unicodedata.category(char)[0] in "LN" else None


def _scan_planes(table: dict[int, str | None]) -> None:
    """Format characters (dropped), spaces, line breaks and compatibility forms."""
    for first, last in _SCANNED:
        for code in range(first, last + 1):
            char = chr(code)
            category = unicodedata.category(char)
            if category == "Cf":
                table[code] = None
            elif category == "Zs":
                table[code] = " "
            elif category in ("Zl", "Zp"):
                table[code] = "\n"
            elif unicodedata.decomposition(char).startswith("<"):
                ascii_form = _compatibility(char)
                if ascii_form is not None:
                    table[code] = ascii_form


@functools.cache
def reading_table() -> dict[int, str | None]:
    """``str.translate`` table: text -> text as a reader sees its letters.

    Built once (a few tens of milliseconds); ASCII characters are never in it."""
    table: dict[int, str | None] = {}
    _scan_planes(table)
    for first, last in _IGNORABLE_RANGES:
        table.update(dict.fromkeys(range(first, last + 1)))
    table.update({ord(c): " " for c in _BLANKS})
    table.update({ord(c): "\n" for c in _LINE_BREAKS})
    for char, prototype in _prototypes().items():
        table.setdefault(ord(char), _ascii_of(char, prototype))
    return table


def read_as_ascii(text: str) -> str:
    """Short text (an address, a name) as a reader sees it; see ``reading_table``."""
    return text if text.isascii() else text.translate(reading_table())


def skeleton(text: str) -> str:
    """Text -> the same string for every spelling a reader cannot tell apart.

    ``rnark.whitmore``, ``mark.whitmore`` (with a Cyrillic a, U+0430) and ``MARK.WHITM0RE`` share
    one skeleton.  For short strings only (addresses, mailbox names)."""
    text = read_as_ascii(text)
    if not text.isascii():
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    text = text.casefold().translate(_ASCII_SINGLES)
    for fake, real in _ASCII_LOOKALIKES:
        text = text.replace(fake, real)
    return text
