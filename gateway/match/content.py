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
from itertools import compress
from typing import NamedTuple

from rapidfuzz.distance import OSA

from gateway.match import keys as K
from gateway.match.index import Index
from gateway.register import normalise as N

# The patterns that scan whole texts start with a digit (or a date's separator), so the
# regex engine skips ordinary words at C speed; word boundaries are checked in Python
# on the few matches, since a leading \b would turn that fast skip off.  Emails are
# found from their "@" (str.find), written dates from their month word.
EMAIL_LOCAL_RE = re.compile(r"[a-z0-9!#$%&*+/=?^_`{|}~.'-]+$")
EMAIL_DOMAIN_RE = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
PHONE_RE = re.compile(r"[+(0-9][0-9 \t().\-]{7,24}[0-9]")
INWARD_RE = re.compile(r"[0-9][a-z]{2}(?![a-z0-9])")
OUTWARD_RE = re.compile(r"(?:^|[^a-z0-9])([a-z]{1,2}[0-9][a-z0-9]?) ?$")
# A numeric date (``17/04/1988``, ``1988-04-17``) is found from its first separator,
# which is rarer than a digit: the 1 to 4 digits before it are checked in Python.
DATE_TAIL_RE = re.compile(r"[-/.][0-9]{1,2}[-/.][0-9]{2,4}(?![0-9])")
# Written dates are found from their month word, for the month words a text has: one
# pattern per month, each starting with a literal the engine searches fast (trying a
# written date at every digit costs more than the numeric ones).  A day-first date is
# the month and year, then the day looked for just before them.
MONTH_FIRST_RES = {
    month: re.compile(rf"{month}\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+[0-9]{{4}}(?![0-9])")
    for month in N.MONTHS
}
MONTH_YEAR_RES = {
    month: re.compile(rf"{month}\.?,?[\s-]+[0-9]{{4}}(?![0-9])") for month in N.MONTHS
}
DAY_BEFORE_RE = re.compile(r"[0-9]{1,2}(?:st|nd|rd|th)?[\s-]+(?:of\s+)?$")
_SPACES = re.compile(r"\s+")
_DIGITS = frozenset("0123456789")


class Probe(NamedTuple):
    """One key to look up, with where its text sits and what to check a hit against.

    ``what`` is one of name, name_typo, address, address_typo, postcode, phone, email,
    dob, generic.  ``start``/``end`` are character offsets, except for names, street
    addresses and generic addresses, where they are token indices (turned into offsets
    only for the rare verified hit).
    """

    key: int
    what: str
    segment: int
    start: int
    end: int
    word: str = ""  # the text's word for typo checks; the given-name token for names


def probes(index: Index, texts: Sequence[str]) -> list[Probe]:
    """Every probe of every (folded) segment text, for one batched look-up."""
    out: list[Probe] = []
    anchors = index.anchors
    for number, folded in enumerate(texts):
        words = N.folded_tokens(folded)
        # One pass over the words (in C) marks every anchor word: given names, street
        # types, month words, generic address words; the finders look at those only.
        marked = list(compress(range(len(words)), map(anchors.__contains__, words)))
        if any(digit in folded for digit in "0123456789"):
            for finder in (_phones, _postcodes, _dates):
                out.extend(finder(folded, number))
            out.extend(_addresses(words, marked, number))
        months = frozenset(words[i] for i in marked if words[i] in N.MONTH_WORDS)
        if months:
            out.extend(_written_dates(folded, number, months))
        if "@" in folded:
            out.extend(_emails(folded, number))
        out.extend(_names(index, words, marked, number))
        if index.generic:
            out.extend(_generic(index, words, marked, number))
    return out


def _boundary(text: str, start: int) -> bool:
    return start == 0 or not text[start - 1].isalnum()


def _emails(text: str, seg: int) -> Iterator[Probe]:
    at = text.find("@")
    while at > 0:
        local = EMAIL_LOCAL_RE.search(text, max(0, at - 64), at)
        domain = EMAIL_DOMAIN_RE.match(text, at + 1)
        if local and domain:
            address = (local.group() + "@" + domain.group()).strip(".'")
            key = K.email_key(N.canonical_email(address))
            yield Probe(key, "email", seg, local.start(), domain.end())
        at = text.find("@", at + 1)


def _phones(text: str, seg: int) -> Iterator[Probe]:
    for m in PHONE_RE.finditer(text):
        if not _boundary(text, m.start()) or text[m.start() - 1 : m.start()] == "+":
            continue
        groups = _SPACES.split(m.group())
        seen: set[str] = set()
        for first in range(min(len(groups), 6)):
            for last in range(first + 1, min(len(groups), first + 5) + 1):
                e164 = N.phone_digits_key(" ".join(groups[first:last]))
                if e164 and e164 not in seen:
                    seen.add(e164)
                    yield Probe(K.phone_key(e164), "phone", seg, m.start(), m.end())


def _postcodes(text: str, seg: int) -> Iterator[Probe]:
    for m in INWARD_RE.finditer(text):
        outward = OUTWARD_RE.search(text, max(0, m.start() - 6), m.start())
        if outward:
            code = N.canonical_postcode(outward.group(1), m.group())
            yield Probe(K.postcode_key(code), "postcode", seg, outward.start(1), m.end())


def _dates(text: str, seg: int) -> Iterator[Probe]:
    """Numeric dates, day first (as in the UK) or year first.  Tails may overlap
    (``-08-07-01``: the date is the one that starts at 08, not the tail at the first
    dash), so the search goes on from the separator after each tail's first."""
    m = DATE_TAIL_RE.search(text)
    while m is not None:
        start = sep = m.start()
        while start > sep - 5 and start > 0 and text[start - 1] in _DIGITS:
            start -= 1
        if 0 < sep - start <= 4 and _boundary(text, start):
            yield from _dob(text, seg, start, m.end())
        m = DATE_TAIL_RE.search(text, sep + 1)


def _written_dates(text: str, seg: int, months: frozenset[str]) -> Iterator[Probe]:
    """``17th of April 1988`` and ``April 17, 1988``, for the month words the text has."""
    for month in months:
        for m in MONTH_FIRST_RES[month].finditer(text):
            if _boundary(text, m.start()):
                yield from _dob(text, seg, m.start(), m.end())
        for m in MONTH_YEAR_RES[month].finditer(text):
            day = DAY_BEFORE_RE.search(text, max(0, m.start() - 100), m.start())
            if day is not None and _boundary(text, day.start()):
                yield from _dob(text, seg, day.start(), m.end())


def _dob(text: str, seg: int, start: int, end: int) -> Iterator[Probe]:
    """The probe of a date of birth in ``text[start:end]``, if that is a real date."""
    day = N.parse_date(text[start:end])
    if day is not None:
        yield Probe(K.dob_key(day.isoformat()), "dob", seg, start, end)


def _addresses(words: list[str], marked: list[int], seg: int) -> Iterator[Probe]:
    """A house number, up to five words of street name, and a street type."""
    types = N.STREET_TYPES
    for j in [j for j in marked if words[j] in types]:
        for i in range(j - 1, max(-1, j - 7), -1):
            if not N.HOUSE_RE.fullmatch(words[i]):
                continue
            if i < j - 1:
                house, street, kind = words[i], "".join(words[i + 1 : j]), types[words[j]]
                yield Probe(K.address_key(house, kind, street), "address", seg, i, j, street)
                for key in K.probe_halves("A", (house, kind), street):
                    yield Probe(key, "address_typo", seg, i, j, street)
            break


def _names(index: Index, words: list[str], marked: list[int], seg: int) -> list[Probe]:
    """Given name next to a surname, in either order, with at most one word between:
    the next word, the one after it when the next is an initial or another given
    name, and the word before (not for an initial).  A first name next to a longer
    word also probes for a typo in the surname."""
    given, surnames, first = index.given, index.surnames, index.first
    last = len(words) - 1
    out: list[Probe] = []
    for i in marked:
        word = words[i]
        if word not in given:
            continue
        near = [i + 1] if i < last else []
        if i + 2 <= last and (len(words[i + 1]) == 1 or words[i + 1] in given):
            near.append(i + 2)
        if i > 0 and len(word) > 1:
            near.append(i - 1)
        typos = word in first
        for j in near:
            other = words[j]
            lo, hi = (i, j) if i < j else (j, i)
            if other in surnames:
                out.append(Probe(K.name_key(word, other), "name", seg, lo, hi, word))
            if typos and len(other) >= 4 and other.isalpha():
                out += [
                    Probe(key, "name_typo", seg, lo, hi, other)
                    for key in K.probe_halves("N", (word,), other)
                ]
    return out


def _generic(index: Index, words: list[str], marked: list[int], seg: int) -> Iterator[Probe]:
    """Words of addresses that have no UK street line (checked in full on a hit)."""
    generic = index.generic
    for i in [i for i in marked if words[i] in generic]:
        yield Probe(K.generic_key(words[i]), "generic", seg, i, i)


# --- verification helpers used by the matcher -------------------------------------------


def within_one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours."""
    return OSA.distance(a, b, score_cutoff=1) <= 1


_ANOTHER_HOUSE = re.compile(r"(?<![0-9a-z])[0-9]{1,4}[a-z]?\s+[a-z]")


def postcode_after(text: str, end: int, span: int = 80) -> str | None:
    """The postcode of the address line ending at ``end``, canonical: the first within
    ``span`` characters, unless another house number comes first (then the postcode
    belongs to a second address)."""
    m = N.POSTCODE_RE.search(text, end, min(len(text), end + span))
    if m is None or _ANOTHER_HOUSE.search(text, end, m.start()):
        return None
    return N.canonical_postcode(m.group(1), m.group(2))


def words_near(text: str, start: int, end: int, before: int = 120, after: int = 80) -> list[str]:
    """Tokens of the (folded) text around a hit."""
    return N.folded_tokens(text[max(0, start - before) : end + after])


def street_in(words: list[str], house: str, street: str) -> bool:
    """The street name (within one edit, over up to four words) appears in ``words``
    with ``house`` as the number just before it: ``3 Heron Road`` is not ``2 Heron
    Road`` because a 2 stands somewhere else nearby."""
    if house not in words:
        return False
    for j in range(1, len(words)):
        if words[j][0].isdigit():  # a street name starts with a word, not a number
            continue
        for width in range(1, 5):
            if within_one_edit("".join(words[j : j + width]), street):
                number = next(
                    (w for w in reversed(words[max(0, j - 3) : j]) if N.HOUSE_RE.fullmatch(w)), None
                )
                if number == house:
                    return True
    return False
