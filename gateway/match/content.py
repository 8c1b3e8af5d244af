"""Segments -> probes -> verified hits: protected details found in message text.

Cheap anchors (regexes in C, set look-ups of tokens) turn each segment into a short
list of probes; one batched index look-up finds the postings; each posting is then
verified against the case record (typo distance, postcode agreement, nearby town).
Everything runs on folded text, whose offsets equal the original text's, so hits
carry spans into the original for reviewers' evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, islice
from typing import NamedTuple

from rapidfuzz.distance import OSA

from gateway.budget import NEVER, Deadline
from gateway.match import emails as E
from gateway.match import keys as K
from gateway.match.index import Index
from gateway.register import address as A
from gateway.register import normalise as N

# The patterns that scan whole texts start with a digit (or a date's separator), so the
# regex engine skips ordinary words at C speed; word boundaries are checked in Python
# on the few matches, since a leading \b would turn that fast skip off.  Emails are
# found from their "@" or its written forms (``emails``), written dates from their
# month word.
# A phone is a run of digit groups; the groups may be apart by a few characters
# (spaces, brackets, dots, dashes, a slash, a line break and a reply's quote mark).
# A run is taken from its first 0, 4 or + (where a number can start: 0, 00, 44, +),
# so runs of other digits are skipped in C.
PHONE_RUN_RE = re.compile(r"[+04][0-9 \t\r\n().\-/>]{6,}[0-9]")
_DIGIT_GROUP_RE = re.compile(r"[0-9]+")
# Where a phone may start in a run: a digit group with a trunk or international prefix,
# or any group after a "+".
_PHONE_START_RE = re.compile(r"(?<![0-9])(?:0|44)|(?<=\+)[0-9]")
_PHONE_MAX_DIGITS = 17  # 00 + 15 digits of E.164
# A postcode is found from its inward code (digit, two letters), then the outward code
# is looked for just before it; spaced forms (``cf 24 4 ln``) take only the letters PAF
# allows there, so that ordinary words (``2 pm``, ``3 of``) are not tried.
INWARD_RE = re.compile(rf"{A.INWARD_COMPACT}(?![a-z0-9])|{A.INWARD_SPACED}(?![a-z0-9])")
INWARD_STRICT_RE = re.compile(A.INWARD_SPACED)
OUTWARD_RE = re.compile(rf"(?<![a-z0-9])({A.OUTWARD_COMPACT}){A.SEP}$")
OUTWARD_SPACED_RE = re.compile(rf"(?<![a-z0-9])({A.OUTWARD_SPACED}){A.SEP}$")
# A numeric date (``17/04/1988``, ``1988-04-17``) is found from its first separator,
# which is rarer than a digit: the 1 to 4 digits before it are checked in Python.
DATE_TAIL_RE = re.compile(rf"[-/.](?:[0-9]{{1,2}}|{N.ROMAN_ALT})[-/.][0-9]{{2,4}}(?![0-9])")
# Written dates are found from their month word, for the month words a text has: one
# pattern per month, each starting with a literal the engine searches fast (trying a
# written date at every digit costs more than the numeric ones).  A day-first date is
# the month and year, then the day looked for just before them.
# A year: four digits, or two (``'88``) that are not the hour of a time (``13:00``).
_YEAR = r"(?:[0-9]{4}|'?[0-9]{2})(?![0-9]|[:.][0-9])"
MONTH_FIRST_RES = {
    month: re.compile(rf"{month}\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+{_YEAR}")
    for month in N.MONTHS
}
MONTH_YEAR_RES = {month: re.compile(rf"{month}\.?,?[\s/.-]+{_YEAR}") for month in N.MONTHS}
# What both forms have: the month word, then a digit (month words are common English:
# "may", "march"; one search rules a text out before the two finer ones run).
MONTH_DIGIT_RES = {month: re.compile(rf"{month}\.?,?[\s/.-]+'?[0-9]") for month in N.MONTHS}
DAY_BEFORE_RE = re.compile(r"[0-9]{1,2}(?:st|nd|rd|th)?[\s/.-]+(?:day\s+)?(?:of\s+)?$")
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


def probes(index: Index, texts: Sequence[str], deadline: Deadline = NEVER) -> list[Probe]:
    """Every probe of every (folded) segment text, for one batched look-up; stops
    with ``OverBudget`` once ``deadline`` has passed (checked per segment, and per
    chunk of anchor words or probes inside one, so a huge segment stops in time)."""
    out: list[Probe] = []
    anchors = index.anchors
    for number, folded in enumerate(texts):
        deadline.check()
        words = N.folded_tokens(folded)
        # One pass over the words (in C) marks every anchor word: given names, street
        # types, month words, generic address words; the finders look at those only.
        marked = list(compress(range(len(words)), map(anchors.__contains__, words)))
        # The finders of anchor words treat each marked word on its own, so they are
        # given the marked words a chunk at a time, with a time check in between.
        chunks = [marked[at : at + _CHUNK] for at in range(0, len(marked), _CHUNK)]
        if any(digit in folded for digit in "0123456789"):
            for finder in (_phones, _postcodes, _dates):
                _take(out, finder(folded, number), deadline)
            for chunk in _checked(chunks, deadline):
                out.extend(_addresses(words, chunk, number))
            # a written date has its day and year in digits
            months = frozenset(words[i] for i in marked if words[i] in N.MONTH_WORDS)
            if months:
                _take(out, _written_dates(folded, number, months), deadline)
        if index.streets:
            for chunk in _checked(chunks, deadline):
                out.extend(_streets(index, words, chunk, number))
        _take(out, _emails(folded, number), deadline)
        for chunk in _checked(chunks, deadline):
            out.extend(_names(index, words, chunk, number))
        if index.generic:
            for chunk in _checked(chunks, deadline):
                out.extend(_generic(index, words, chunk, number))
    return out


_CHUNK = 4096  # anchor words or probes between two time checks: a few ms of work


def _checked(chunks: list[list[int]], deadline: Deadline) -> Iterator[list[int]]:
    """``chunks``, with a time check before each but the first."""
    for number, chunk in enumerate(chunks):
        if number:
            deadline.check()
        yield chunk


def _take(out: list[Probe], found: Iterable[Probe], deadline: Deadline) -> None:
    """Add what a finder yields to ``out``, a chunk at a time, with a time check in
    between (``islice`` keeps the common case, a few probes, at C speed)."""
    found = iter(found)
    while True:
        before = len(out)
        out.extend(islice(found, _CHUNK))
        if len(out) - before < _CHUNK:
            return
        deadline.check()


def _boundary(text: str, start: int) -> bool:
    return start == 0 or not text[start - 1].isalnum()


def _emails(text: str, seg: int) -> Iterator[Probe]:
    """Every reading of every email address the text spells (``emails``), canonical."""
    for start, end, address in E.candidates(text):
        yield Probe(K.email_key(N.canonical_email(address)), "email", seg, start, end)


def _phones(text: str, seg: int) -> Iterator[Probe]:
    """Every number the plan allows that starts at a digit group of a run (after a
    ``+``, or with ``0``/``00``/``44``) and ends at one: a reference number before the
    phone, or another number after it, is then no part of any candidate."""
    for run in PHONE_RUN_RE.finditer(text):
        seen: set[str] = set()
        for first in _PHONE_START_RE.finditer(text, run.start(), run.end()):
            yield from _phone_candidates(text, seg, first.start(), run.end(), seen)


def _phone_candidates(
    text: str, seg: int, start: int, stop: int, seen: set[str]
) -> Iterator[Probe]:
    """The numbers made of the digit groups from ``start`` on, one group more each
    time, while the digits fit a phone and each gap is a separator (at most four
    characters, one line break)."""
    plus = start > 0 and text[start - 1] == "+"
    digits, last = "", start
    for count, group in enumerate(_DIGIT_GROUP_RE.finditer(text, start, stop)):
        begin, end = group.span()
        gap = text[last:begin]
        if len(gap) > 4 or gap.count("\n") > 1:
            return
        part = group.group()
        if count == 1 and part == "0" and gap.endswith("(") and text[end : end + 1] == ")":
            part = ""  # +44 (0) 7700: the trunk zero in brackets is not dialled from abroad
        digits += part
        if len(digits) > _PHONE_MAX_DIGITS:
            return
        last = end
        e164 = N.phone_from_digits(digits, plus)
        if e164 is not None and e164 not in seen:
            seen.add(e164)
            yield Probe(K.phone_key(e164), "phone", seg, start - plus, end)


def _postcodes(text: str, seg: int) -> Iterator[Probe]:
    for m in INWARD_RE.finditer(text):
        start = m.start()
        outward = (
            OUTWARD_RE.search(text, max(0, start - 7), start) if " " not in m.group() else None
        )
        if outward is None and INWARD_STRICT_RE.fullmatch(m.group()):
            outward = OUTWARD_SPACED_RE.search(text, max(0, start - 10), start)
        if outward:
            code = A.canonical_postcode(outward.group(1), m.group())
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
        if MONTH_DIGIT_RES[month].search(text) is None:
            continue
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
    """A building number, up to five words of street name and a descriptor; or a
    number, a Welsh or Gaelic descriptor and up to three words of name."""
    types = A.STREET_TYPES
    for j in [j for j in marked if words[j] in types]:
        kind = types[words[j]]
        if kind in A.LEADING_TYPES:
            yield from _leading(words, j, kind, seg)
            continue
        for i in range(j - 1, max(-1, j - 7), -1):
            if not A.HOUSE_RE.fullmatch(words[i]):
                continue
            if i < j - 1:
                for house, first in _houses(words, i, j):
                    yield from address_probes(house, kind, words[first:j], seg, i, j)
            break


def _houses(words: list[str], i: int, j: int) -> Iterator[tuple[str, int]]:
    """(building number, first word of the name) readings of the number at ``i``: as
    it is; with a letter written apart as its suffix (``7 c``); and the number before
    it, for a flat and number pair in either order or a range (``136/1``, ``7-9``)."""
    yield words[i], i + 1
    after = words[i + 1]
    if i + 2 < j and len(after) == 1 and after.isalpha() and words[i].isdigit():
        yield words[i] + after, i + 2
    if i > 0 and A.HOUSE_RE.fullmatch(words[i - 1]):
        yield words[i - 1], i + 1


def _leading(words: list[str], j: int, kind: str, seg: int) -> Iterator[Probe]:
    """``14 Heol Newydd``: the number before the descriptor, the name after it."""
    i = j - 1
    if i > 0 and len(words[i]) == 1 and words[i].isalpha() and words[i - 1].isdigit():
        house = words[i - 1] + words[i]
    elif i >= 0 and A.HOUSE_RE.fullmatch(words[i]):
        house = words[i]
    else:
        return
    for width in range(1, 4):
        name = words[j + 1 : j + 1 + width]
        if len(name) < width or name[-1][0].isdigit():
            return
        yield from address_probes(house, kind, name, seg, i, j + width)


def address_probes(
    house: str, kind: str, name: list[str], seg: int, i: int, j: int
) -> Iterator[Probe]:
    street = "".join(name)
    yield Probe(K.address_key(house, kind, street), "address", seg, i, j, street)
    for key in K.probe_halves("A", (house, kind), street):
        yield Probe(key, "address_typo", seg, i, j, street)


def _streets(index: Index, words: list[str], marked: list[int], seg: int) -> Iterator[Probe]:
    """A protected street's name and descriptor, whatever stands around it (a number
    after it, a house name, a town); the verifier decides what that makes it.  Only
    descriptors next to a word some protected street ends (or, for Welsh and Gaelic
    forms, starts) with are tried."""
    streets, types = index.streets, A.STREET_TYPES
    last = len(words) - 1
    for j in [j for j in marked if words[j] in types]:
        kind = types[words[j]]
        if kind in A.LEADING_TYPES:
            if j < last and words[j + 1] in streets:
                for width in range(1, min(3, last - j) + 1):
                    name = words[j + 1 : j + 1 + width]
                    if name[-1][0].isdigit():
                        break
                    key = K.street_key(kind, "".join(name))
                    yield Probe(key, "street", seg, j, j + width)
        elif j > 0 and words[j - 1] in streets:
            for i in range(j - 1, max(-1, j - 6), -1):
                if words[i][0].isdigit():
                    break
                yield Probe(K.street_key(kind, "".join(words[i:j])), "street", seg, i, j)


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
    stop = min(len(text), end + span)
    for m in A.POSTCODE_TEXT_RE.finditer(text, end, stop):
        if _ANOTHER_HOUSE.search(text, end, m.start()):
            return None
        code = A.text_postcode(m)
        if A.real_area(code):  # "on 27th" is not a postcode that contradicts the address
            return code
    return None


def words_near(text: str, start: int, end: int, before: int = 120, after: int = 80) -> list[str]:
    """Tokens of the (folded) text around a hit."""
    return N.folded_tokens(text[max(0, start - before) : end + after])


def street_in(
    words: list[str],
    house: str,
    street: str,
    similar: Callable[[str, str], bool] = within_one_edit,
) -> bool:
    """The street name (within one edit, or as ``similar`` has it, over up to four
    words) appears in ``words`` with ``house`` as the number just before it: ``3 Heron
    Road`` is not ``2 Heron Road`` because a 2 stands somewhere else nearby."""
    if house not in words:
        return False
    for j in range(1, len(words)):
        if words[j][0].isdigit():  # a street name starts with a word, not a number
            continue
        for width in range(1, 5):
            if similar("".join(words[j : j + width]), street):
                number = next(
                    (w for w in reversed(words[max(0, j - 3) : j]) if A.HOUSE_RE.fullmatch(w)), None
                )
                if number == house:
                    return True
    return False
