"""Segments -> probes -> verified hits: protected details found in message text.

Cheap anchors (regexes in C, set look-ups of tokens) turn each segment into a short
list of probes; one batched index look-up finds the postings; each posting is then
verified against the case record (typo distance, postcode agreement, nearby town).
Everything runs on folded text, whose offsets equal the original text's, so hits
carry spans into the original for reviewers' evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import partial_ratio

from gateway.match import keys as K
from gateway.match.index import Index
from gateway.register import normalise as N

EMAIL_RE = re.compile(r"[a-z0-9!#$%&*+/=?^_`{|}~.'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
PHONE_RE = re.compile(r"(?<![\w+])\+?\(?\d[\d \t().\-]{7,22}\d(?!\w)")
POSTCODE_RE = re.compile(r"\b([a-z]{1,2}\d[a-z\d]?) ?(\d[a-z]{2})\b")
_TYPES = "|".join(sorted(N.STREET_TYPES, key=len, reverse=True))
ADDRESS_RE = re.compile(
    rf"\b(\d{{1,4}}[a-z]?)\b[\s,]+((?:[^\W\d_][\w'.-]*[\s,]+){{1,5}}?)({_TYPES})\b\.?"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Probe:
    """One key to look up, with where its text sits and what to check a hit against."""

    key: int
    what: str      # name | name_typo | address | address_typo | postcode | phone | email | dob | generic
    segment: int
    start: int
    end: int
    word: str = ""  # the text's word for typo checks; the given-name token for names


def probes(index: Index, texts: Sequence[str]) -> list[Probe]:
    """Every probe of every (folded) segment text, for one batched look-up."""
    out: list[Probe] = []
    for number, folded in enumerate(texts):
        for finder in (_emails, _phones, _postcodes, _dates, _addresses):
            out.extend(finder(folded, number))
        out.extend(_names(index, folded, number))
        if index.generic:
            out.extend(_generic(index, folded, number))
    return out


def _emails(text: str, seg: int) -> Iterator[Probe]:
    if "@" not in text:
        return
    for m in EMAIL_RE.finditer(text):
        address = m.group().strip(".'")
        yield Probe(K.email_key(N.canonical_email(address)), "email", seg, m.start(), m.end())


def _phones(text: str, seg: int) -> Iterator[Probe]:
    for m in PHONE_RE.finditer(text):
        raw = m.group()
        groups = _SPACES.split(raw)
        seen: set[str] = set()
        for first in range(min(len(groups), 6)):
            for last in range(first + 1, min(len(groups), first + 5) + 1):
                e164 = N.phone_digits_key(" ".join(groups[first:last]))
                if e164 and e164 not in seen:
                    seen.add(e164)
                    yield Probe(K.phone_key(e164), "phone", seg, m.start(), m.end())


def _postcodes(text: str, seg: int) -> Iterator[Probe]:
    for m in POSTCODE_RE.finditer(text):
        code = N.canonical_postcode(m.group(1), m.group(2))
        yield Probe(K.postcode_key(code), "postcode", seg, m.start(), m.end())


def _dates(text: str, seg: int) -> Iterator[Probe]:
    for form, regex in N.DATE_RES:
        for m in regex.finditer(text):
            day = N.date_from_groups(form, m.groups())
            if day is not None:
                yield Probe(K.dob_key(day.isoformat()), "dob", seg, m.start(), m.end())


def _addresses(text: str, seg: int) -> Iterator[Probe]:
    for m in ADDRESS_RE.finditer(text):
        house = m.group(1)
        words = N.TOKEN_RE.findall(m.group(2))
        trailing = N.TOKEN_RE.findall(text[m.end(): m.end() + 40])[:3]
        candidates = [(words, m.group(3), m.end())]
        names = [*words, m.group(3)]
        for extra, word in enumerate(trailing):
            if word in N.STREET_TYPES:
                candidates.append((names + trailing[:extra], word, m.end()))
        for name_words, kind_word, end in candidates:
            street, kind = "".join(name_words), N.STREET_TYPES[kind_word]
            span = (m.start(), end)
            yield Probe(K.address_key(house, kind, street), "address", seg, *span, street)
            for key in K.probe_halves("A", (house, kind), street):
                yield Probe(key, "address_typo", seg, *span, street)


def _names(index: Index, text: str, seg: int) -> Iterator[Probe]:
    """Given name next to a surname, in either order, with at most one word between."""
    words = N.TOKEN_RE.findall(text)
    given, surnames, first = index.given, index.surnames, index.first
    spans: list[tuple[int, int]] | None = None
    last = len(words) - 1
    for i in [i for i, word in enumerate(words) if word in given]:
        word = words[i]
        for j in _neighbours(words, i, last, given):
            other = words[j]
            exact = other in surnames
            if not exact and (word not in first or len(other) < 4 or not other.isalpha()):
                continue
            if spans is None:
                spans = [m.span() for m in N.TOKEN_RE.finditer(text)]
            lo, hi = min(i, j), max(i, j)
            span = (spans[lo][0], spans[hi][1])
            if exact:
                yield Probe(K.name_key(word, other), "name", seg, *span, word)
            if word in first and len(other) >= 4 and other.isalpha():
                for key in K.probe_halves("N", (word,), other):
                    yield Probe(key, "name_typo", seg, *span, other)


def _neighbours(words: list[str], i: int, last: int, given: frozenset[str]) -> Iterator[int]:
    single = len(words[i]) == 1
    if i < last:
        yield i + 1
    if i + 2 <= last and (len(words[i + 1]) == 1 or words[i + 1] in given):
        yield i + 2
    if i > 0 and not single:
        yield i - 1


def _generic(index: Index, text: str, seg: int) -> Iterator[Probe]:
    words = N.TOKEN_RE.findall(text)
    pairs = index.generic
    hits = [i for i in range(len(words) - 1) if (words[i], words[i + 1]) in pairs]
    if not hits:
        return
    spans = [m.span() for m in N.TOKEN_RE.finditer(text)]
    for i in hits:
        start = spans[i][0]
        yield Probe(K.generic_key(words[i], words[i + 1]), "generic", seg, start, spans[i + 1][1])


# --- verification helpers used by the matcher -------------------------------------------


def within_one_edit(a: str, b: str) -> bool:
    return Levenshtein.distance(a, b, score_cutoff=1) <= 1


def postcode_after(text: str, end: int, span: int = 80) -> str | None:
    """The first postcode within ``span`` characters after ``end``, canonical."""
    m = POSTCODE_RE.search(text, end, min(len(text), end + span))
    return N.canonical_postcode(m.group(1), m.group(2)) if m else None


def words_near(text: str, start: int, end: int, before: int = 120, after: int = 80) -> list[str]:
    return N.TOKEN_RE.findall(text[max(0, start - before): end + after])


def street_in(words: list[str], house: str, street: str) -> bool:
    """The house number and (within one edit) the street name both appear in ``words``."""
    if house not in words:
        return False
    joined = "".join(w for w in words if not w.isdigit())
    return street in joined or partial_ratio(street, joined, score_cutoff=88) >= 88
