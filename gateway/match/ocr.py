"""Segments read by OCR -> a second reading of each, matched beside the text as read.

For every segment with ``reading == "ocr"`` the matcher also reads ``ocrread.read``'s
text (digit-like letters as digits where a digit stands, and so on) as one more
segment at the same location, plus probes for what that text cannot hold: every
reading of a postcode OCR left open (``TN23 4OP``) and the forms an email address
had before OCR's ``rn``/``m``, ``1``/``l`` confusions.  Both readings are matched,
so an OCR segment has every finding it had as plain text, and the reading's own.
Evidence found in a reading is mapped back to the segment's own text (``restore``),
so reviewers see what the image said where it said it.  A message without OCR
segments costs one attribute test per segment.

What OCR'd text may mean is wider than what it says, and the matcher takes the wider
side (a gateway would rather hold than leak): in OCR segments a valid postcode one
lookalike away from a protected one (``L56 3QT`` for ``LS6 3QT``) is probed as that
one, a postcode one character off after a protected address does not make it another
address (``verify``), and words compare as OCR may have read them (``ocrread.alike``).
Typed text keeps the exact rules.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations, pairwise, product
from typing import TYPE_CHECKING

from gateway.budget import NEVER, Deadline
from gateway.match import content as C
from gateway.match import emails as E
from gateway.match import keys as K
from gateway.match.index import Index
from gateway.register import address as A
from gateway.register import normalise as N
from gateway.register import ocrread
from gateway.register.ocrcodes import AS_DIGIT
from gateway.segments import OCR, Segment

if TYPE_CHECKING:
    from gateway.match.verify import Collector


@dataclass
class Readings:
    """The message's segments and folded texts, then one reading per OCR segment
    whose reading differs; extra probes; and how to map a reading back."""

    segments: Sequence[Segment]
    texts: Sequence[str]
    probes: list[C.Probe] = field(default_factory=list)
    #: for each segment (message's and readings'): the message segment it reads
    origin: list[int] = field(default_factory=list)
    read: dict[int, ocrread.Reading] = field(default_factory=dict)

    def restore(self, collected: Collector) -> None:
        """Point the evidence found in readings at the segments' own text, once."""
        if not self.read:
            return
        first = len(self.origin) - len(self.read)
        seen = {span for span in collected.spans if span[1] < first}
        spans = []
        for key, seg, start, end in collected.spans:
            if seg < first:
                spans.append((key, seg, start, end))
                continue
            moved = (key, self.origin[seg], *self.read[seg].span(start, end))
            if moved not in seen:
                seen.add(moved)
                spans.append(moved)
        collected.spans[:] = spans


def readings(
    index: Index, segments: Sequence[Segment], texts: Sequence[str], deadline: Deadline = NEVER
) -> Readings:
    """``segments`` and their folded ``texts``, with the readings of OCR segments."""
    if not any(segment.reading == OCR for segment in segments):
        return Readings(segments, texts)
    all_segments, all_texts = list(segments), list(texts)
    out = Readings(all_segments, all_texts, origin=list(range(len(segments))))
    for number, segment in enumerate(segments):
        if segment.reading != OCR:
            continue
        deadline.check()
        reading = ocrread.read(segment.text)
        seg, folded = number, texts[number]
        if reading is not None and reading.text != segment.text:
            seg, folded = len(all_segments), N.fold(reading.text)
            out.read[seg] = reading
            out.origin.append(number)
            all_segments.append(Segment(segment.location, reading.text, OCR, segment.hidden))
            all_texts.append(folded)
        if reading is not None:
            out.probes += _postcodes(reading, seg)
        out.probes += _emails(folded, seg)
        out.probes += _addresses(index, folded, seg)
        if index.streets:
            out.probes += _streets(index, folded, seg)
    return out


def _postcodes(reading: ocrread.Reading, seg: int) -> Iterator[C.Probe]:
    for start, end, codes in reading.postcodes:
        for code in codes:
            yield C.Probe(K.postcode_key(code), "postcode", seg, start, end)


# What a letter in a house number may have been printed as: OCR's lookalikes, folded
# (``Q`` and ``q``, ``B`` and ``b``, ``G`` and ``g`` are one letter here, so each has
# both digits).
_HOUSE_DIGITS = {
    letter: "".join(sorted({d for c, d in AS_DIGIT.items() if c.lower() == letter}))
    for letter in {c.lower() for c in AS_DIGIT if c.isalpha()}
}
_HOUSE_LIKE_RE = re.compile(
    f"(?=.*[0-9])[0-9{''.join(_HOUSE_DIGITS)}]{{1,4}}|[{''.join(_HOUSE_DIGITS)}]{{1,3}}"
)


def _addresses(index: Index, folded: str, seg: int) -> Iterator[C.Probe]:
    """An address OCR wrote in a way ``content``'s probes miss: a building number
    with a letter for a digit that the reading kept as a letter (``12Z``, ``4q``: a
    suffix may be either; ``B``, ``lS`` or ``IOO`` alone), or a protected street's last word
    with up to two of OCR's confusions (``Elrnwoocl Mews``): the probes of each number
    and name it may have been, beside ``content``'s for it as written."""
    words = N.folded_tokens(folded)
    for j, word in enumerate(words):
        kind = A.STREET_TYPES.get(word)
        if kind is None or kind in A.LEADING_TYPES or j < 2:
            continue
        for i in range(j - 2, max(-1, j - 7), -1):
            if words[i + 1][0].isdigit():
                break  # a street name starts with a word
            if not _HOUSE_LIKE_RE.fullmatch(words[i]):
                continue
            token, first = words[i], "".join(words[i + 1 : j - 1])
            houses = ((token,) if A.HOUSE_RE.fullmatch(token) else ()) + _house_numbers(token)
            names = ["".join(words[i + 1 : j])]
            names += [first + form for form in _street_words(index, words[j - 1])]
            for house, name in product(houses, names):
                if (house, name) != (token, names[0]):  # content's probe
                    yield from C.address_probes(house, kind, [name], seg, i, j)
            break


@functools.lru_cache(maxsize=1024)
def _house_numbers(token: str) -> tuple[str, ...]:
    """The numbers a house-number-like token may have been printed as (not itself)."""
    choices = [_HOUSE_DIGITS.get(char, char) for char in token]
    numbers = {"".join(digits) for digits in product(*choices)}
    return tuple(sorted(n for n in numbers - {token} if n[0] != "0"))


def _streets(index: Index, folded: str, seg: int) -> Iterator[C.Probe]:
    """A protected street named without a number, its name's word next to the
    descriptor as OCR misread it (``Kingfisher Road`` as ``Kingfislier Road``), or that
    word broken in two (``Clay Gurn Road``): the probes ``content`` makes for the name
    as printed."""
    words = N.folded_tokens(folded)
    for j, word in enumerate(words):
        kind = A.STREET_TYPES.get(word)
        if kind is None:
            continue
        if kind in A.LEADING_TYPES:
            at = j + 1
            if at < len(words) and not words[at][0].isdigit():
                for name in _street_words(index, words[at]):
                    yield C.Probe(K.street_key(kind, name), "street", seg, j, at)
            continue
        for first in (j - 1, j - 2):  # the name's last word, or its last two run together
            if first < 0 or words[first][0].isdigit():
                break
            last = "".join(words[first:j])
            if last in index.streets:
                continue  # ``content``'s probe
            for name in _street_words(index, last):
                for i in range(first, max(-1, first - 5), -1):
                    if words[i][0].isdigit():
                        break
                    street = "".join(words[i:first]) + name
                    yield C.Probe(K.street_key(kind, street), "street", seg, i, j)


def _street_words(index: Index, word: str) -> set[str]:
    """The protected streets' words ``word`` may be as OCR wrote it (not itself): up
    to two of OCR's confusions undone, or the same skeleton (``Wl|clmoor``)."""
    found = {form for form in _word_forms(word) if form in index.streets}
    found |= index.street_skeletons.get(ocrread.loose_skeleton(word), frozenset())
    found.discard(word)
    return found


@functools.lru_cache(maxsize=4096)
def _word_forms(word: str) -> frozenset[str]:
    return frozenset(email_forms(word))


# Where OCR may have changed an address's letters, and what they may have been: a
# pair read for one letter, its l or i perhaps read as a lookalike too (``sara1i`` for
# ``sarah``), and single letters.
_PAIR_FORMS = {"rn": ("m",), "vv": ("w",)}
_PAIR_FORMS |= {f"c{ell}": ("d",) for ell in "l1i"}
_PAIR_FORMS |= {f"{ell}{i}": ("h",) for ell in "l1i" for i in "il1"}
_SITES_RE = re.compile(f"(?=({'|'.join(_PAIR_FORMS)}|[mdwh01lio5sq968]))")  # overlapping
_SITE_FORMS = {
    **_PAIR_FORMS,
    "m": ("rn",),
    "d": ("cl",),
    "w": ("vv",),
    "h": ("li",),
    "0": ("o",),
    "o": ("0",),
    "1": ("l", "i"),
    "l": ("1", "i"),
    "i": ("l", "1"),
    "5": ("s",),
    "s": ("5",),
    "q": ("g",),
    "9": ("g",),
    "6": ("b",),
    "8": ("b",),
}
#: changes tried together in one email address (OCR garbles a few characters)
MAX_EMAIL_CHANGES = 2
_MAX_SITES = 24


def _emails(folded: str, seg: int) -> Iterator[C.Probe]:
    """Every address the text spells, in each form it had with up to two of OCR's
    confusions undone (``s.whit@grnail.corn``: ``s.whit@gmail.com``).  Only a
    protected address can hit, so a wrong form costs one look-up."""
    for start, end, address in E.candidates(folded):
        for form in _canonical_forms(address):
            yield C.Probe(K.email_key(form), "email", seg, start, end)


@functools.lru_cache(maxsize=4096)  # footers and letterheads repeat from page to page
def _canonical_forms(address: str) -> tuple[str, ...]:
    return tuple({N.canonical_email(form) for form in email_forms(address)})


def email_forms(address: str) -> set[str]:
    """``address`` (or a word) with up to ``MAX_EMAIL_CHANGES`` of OCR's confusions
    undone (itself not included)."""
    sites = [(m.start(), m.start() + len(m[1]), m[1]) for m in _SITES_RE.finditer(address)]
    sites += [
        (m.start(), m.start() + 1, m[1][0])
        for m in _SITES_RE.finditer(address)
        if m[1][1:] and m[1][0] in _SITE_FORMS
    ]
    sites = sorted(sites)[:_MAX_SITES]
    out: set[str] = set()
    for count in range(1, MAX_EMAIL_CHANGES + 1):
        for chosen in combinations(sites, count):
            if any(a[1] > b[0] for a, b in pairwise(chosen)):
                continue  # overlapping sites (``li`` and its ``i``)
            for forms in product(*(_SITE_FORMS[site] for _, _, site in chosen)):
                parts: list[str] = []
                done = 0
                for (start, end, _), form in zip(chosen, forms, strict=True):
                    parts += (address[done:start], form)
                    done = end
                parts.append(address[done:])
                out.add("".join(parts))
    out.discard(address)
    return out


def similar(text_word: str, word: str) -> bool:
    """The OCR segments' word test: within one edit as written or as OCR may have
    read it (``ocrread.alike``)."""
    return ocrread.alike(text_word, word)
