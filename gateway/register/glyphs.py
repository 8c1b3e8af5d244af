"""Extracted text -> text as a reader sees its letters.

A reader does not see zero-width characters, soft hyphens, word joiners, BOMs, bidi
controls or variation selectors, sees any space as a space, reads a Cyrillic a (U+0430) or a
fullwidth A (U+FF21) as ``a``, and reads ``O7700 9OO461`` as a phone number.  ``clean``
gives the scan that reading, once per segment (``Context.add``), so that no detail is
broken by a character nobody sees or hidden behind one that only looks like another.

Characters may be dropped or merged here: this runs before ``normalise.fold``, which
keeps offsets, so evidence spans point into the cleaned text.  Every step is a C-speed
scan (``re``, ``bytes.translate``, ``bytes.find``) that costs Python work only where it
finds something.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

from gateway.register.confusables import reading_table

# Digit runs: each character as a class byte.  "0" a digit, "O" a letter that imitates
# one (O and o for 0; l, I and | for 1), " " anything else; a non-ASCII character is
# "?" after encoding and so also " ": whether it is a letter is asked of the text.
_CLASSES = bytes(
    ord("0") if 48 <= b <= 57 else ord("O") if chr(b) in "OolI|" else ord(" ") for b in range(256)
)
_AS_DIGITS = str.maketrans("OolI|", "00111")
_LOOKALIKE_BESIDE_DIGIT = (b"0O", b"O0")
_RUN = re.compile(rb"[0O]*")
#: a maximal run of class bytes holding a digit beside a lookalike
_MIXED_RUN = re.compile(rb"[0O]*(?:0O|O0)[0O]*")
_FEW_RUNS = 16
#: what comes before a word's rest: a mark inside it, or a hyphen at a line's end
_WORD_GOES_ON_RE = re.compile("[A-Za-z](?:['\u2019`]|-[ \t]*\r?\n[ \t]*)$")
#: the inward half of a postcode right after a run (a letter in it perhaps OCR's digit:
#: ``1R5``): the run is its outward half
_INWARD_AFTER = re.compile(r"[ \t]{0,3}[0-9](?=[0-9]?[A-Za-z])[A-Za-z0-9]{2}(?![A-Za-z0-9])")
# Reading-table work is done in chunks; a chunk with more than one run per _DENSE
# characters is translated whole.
_CHUNK = 1 << 16
_DENSE = 64


def _ranges(codes: list[int]) -> str:
    """A regex character class body for sorted code points, as ranges."""
    parts: list[str] = []
    start = prev = codes[0]
    for code in [*codes[1:], -1]:
        if code == prev + 1:
            prev = code
            continue
        parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
        start = prev = code
    return "".join(parts)


@functools.cache
def _special() -> re.Pattern[str]:
    """Runs of characters the reading table changes.

    Characters above the BMP are one range here (a long list of ranges there would
    make ``re`` test each of them on every character); the table decides."""
    bmp = sorted(c for c in reading_table() if c <= 0xFFFF)
    return re.compile(f"[{_ranges(bmp)}\U00010000-\U0010ffff]+")


@functools.cache
def _marks() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Any combining mark; combining marks on an ASCII letter or digit.

    BMP marks only: the few above it (musical, historic scripts) would cost a range
    test on every character, as in ``_special``."""
    codes = [c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)) in ("Mn", "Me")]
    marks = f"[{_ranges(codes)}]"
    return re.compile(marks), re.compile(f"[A-Za-z0-9]{marks}+")


def _read(match: re.Match[str]) -> str:
    return match[0].translate(reading_table())


def _read_chunk(chunk: str) -> str:
    """One chunk through the reading table: a run at a time where runs are few (most
    mail: a few no-break spaces), the whole chunk where they are many (Cyrillic or
    Greek text, hostile padding), so the cost per character stays bounded."""
    special = _special()
    if len(special.findall(chunk)) * _DENSE > len(chunk):
        return chunk.translate(reading_table())
    return special.sub(_read, chunk)


def _bare_letter(match: re.Match[str]) -> str:
    return match[0][0]


# A right-to-left override shows the characters after it in reverse order, up to its
# POP DIRECTIONAL FORMATTING or the end of the paragraph: ``\u202edaoR rehsifgniK``
# reads "Kingfisher Road".  (Isolates and embeddings do not reverse Latin letters.)
_RLO = "\u202e"
_OVERRIDDEN = re.compile("\u202e([^\u202a-\u202e\n\u2029]*)\u202c?")


def _as_shown(match: re.Match[str]) -> str:
    return match[1][::-1]


def clean(text: str) -> str:
    """Drop invisible characters, plain spaces, lookalikes as ASCII, digit runs read.

    ASCII text costs a byte translation and two substring searches."""
    if not text.isascii():
        if _RLO in text:
            text = _OVERRIDDEN.sub(_as_shown, text)
        text = "".join(_read_chunk(text[i : i + _CHUNK]) for i in range(0, len(text), _CHUNK))
        any_mark, marked_letter = _marks()
        if any_mark.search(text):  # ``K̈ingfisher`` reads Kingfisher
            text = marked_letter.sub(_bare_letter, text)
    return _digit_runs(text)


def _digit_runs(text: str) -> str:
    """``O7700 9OO461`` -> ``07700 900461``: lookalikes in tokens of digits only."""
    classes = text.encode("ascii", "replace").translate(_CLASSES)
    if not any(pair in classes for pair in _LOOKALIKE_BESIDE_DIGIT):
        return text
    out: list[str] = []
    done = 0
    for start, end in _mixed_runs(classes):
        if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
            continue  # part of a word: ``lo1`` in ``hello1``
        if _WORD_GOES_ON_RE.search(text, max(0, start - 8), start):
            continue  # after a mark inside a word, or its hyphen: ``Fernh'1ll``, ``Fernh-\n1ll``
        run = text[start:end]
        if len(run) <= 4 and _INWARD_AFTER.match(text, end):
            continue  # a postcode's outward code (``OL1 1AA``; ``5O1 0AA`` is ``SO1``)
        out += (text[done:start], run.translate(_AS_DIGITS))
        done = end
    out.append(text[done:])
    return "".join(out)


def _mixed_runs(classes: bytes) -> Iterator[tuple[int, int]]:
    """Spans of the maximal runs of class bytes holding a digit beside a lookalike.

    ``bytes.find`` jumps from one such pair to the next (a regex scan of a whole long
    text costs more than the rest of the cleaning); where pairs are many (numbers
    and words packed tight), one regex scan of the rest is cheaper per run."""
    pos = 0
    nexts = [classes.find(pair) for pair in _LOOKALIKE_BESIDE_DIGIT]
    for _ in range(_FEW_RUNS):
        live = [n for n in nexts if n >= 0]
        if not live:
            return
        hit = min(live)
        start = classes.rfind(b" ", pos, hit) + 1 or pos
        end = _RUN.match(classes, hit).end()  # type: ignore[union-attr]  # matches "" at worst
        yield start, end
        pos = end
        # each pattern is searched again only past the run: linear in the text
        nexts = [
            n if n < 0 or n >= pos else classes.find(pair, pos)
            for n, pair in zip(nexts, _LOOKALIKE_BESIDE_DIGIT, strict=True)
        ]
    for run in _MIXED_RUN.finditer(classes, pos):
        yield run.span()
