"""match: a confirmed address hit -> the span of the whole address it stands in.

What confirms an address is its street line (``27 Kingfisher Road``) or its postcode,
but a reviewer should see all of it marked: flat, number, house name, street, town and
postcode.  From the hit the span grows a word at a time, both ways, over words of the
same address separated only by punctuation and space (a line break counts), and takes
in the address's own postcode where the words reach it.  Offsets are those of the
folded text, which are the segment's.
"""

from __future__ import annotations

from typing import Any

from gateway.register import address as A
from gateway.register import normalise as N

#: what may stand between two words of one address: ``Flat 3, 27``, ``Leeds,\nLS6``
SEPARATORS = frozenset(" \t\r\n,;.-/")
MAX_GAP = 6
#: words looked at each way: an address has fewer
MAX_WORDS = 12


def address_span(text: str, span: tuple[int, int], form: Any) -> tuple[int, int]:
    """``span`` grown over the words of ``form`` (the index's address tuple, see
    ``index.ADDRESS_FIELDS``) around it in the folded ``text``."""
    house, flat, street, kind, town, postcode, words_, building, also = form
    words = _words_of(house, flat, street, kind, (*town, *words_, *building, *also))
    tokens = [m.span() for m in N.TOKEN_RE.finditer(text, max(0, span[0] - 120), span[1] + 160)]
    start, end = span
    after = [t for t in tokens if t[0] >= end][:MAX_WORDS]
    for t_start, t_end in after:
        if not _gap(text[end:t_start]):
            break
        code = A.POSTCODE_TEXT_RE.match(text, t_start)
        if postcode and code is not None and A.text_postcode(code) == postcode:
            end = code.end()
            break
        if not _belongs(text[t_start:t_end], words, street):
            break
        end = t_end
    before = [t for t in tokens if t[1] <= start][-MAX_WORDS:]
    for t_start, t_end in reversed(before):
        if not _gap(text[t_end:start]) or not _belongs(text[t_start:t_end], words, street):
            break
        start = t_start
    return start, end


def _gap(between: str) -> bool:
    return len(between) <= MAX_GAP and set(between) <= SEPARATORS


def _belongs(word: str, words: frozenset[str], street: str) -> bool:
    """A word of the address: one of its words, or a piece of its street name
    (``st``, ``john``, ``wood`` of ``stjohnswood``: its start, its end, or three
    letters or more of it, so that ``is`` is no piece of ``kingfisher``)."""
    if word in words:
        return True
    return street.startswith(word) or street.endswith(word) or (len(word) > 2 and word in street)


def _words_of(
    house: str, flat: str, street: str, kind: str, more: tuple[str, ...]
) -> frozenset[str]:
    kinds = {w for w, canonical in A.STREET_TYPES.items() if canonical == kind} if kind else set()
    found = {house, flat, street, kind, *more, *kinds} | A.FLAT_WORDS
    return frozenset(w for w in found if w)
