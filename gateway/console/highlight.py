"""review (console): a part's text + evidence spans -> pieces, the highlighted ones marked.

Evidence comes as spans (start, end, finding number), several per finding (an address
seen from its street line and from its postcode, a name and its shorter form) and
sometimes of several findings over the same text (an address that is also a protected
location's).  The reviewer should see each detail marked once and whole, so:

* spans of one finding that overlap, touch, or stand apart by punctuation and space
  only (``Flat 3`` ``,`` ``27 Kingfisher Road``) are one highlight;
* highlights that overlap, of whatever findings, are one highlight naming them all;
* no highlight starts or ends inside a character as a reader sees it: a combining
  accent, a variation selector or a joiner stays with the letter before it.

Every evidence span is then inside exactly one highlight, and highlights never overlap.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

Span = tuple[int, int, int]  # start, end, finding number
#: what may stand between two spans of one finding for them to be one highlight
SEPARATORS = frozenset(" \t\r\n,;.-/")
MAX_GAP = 6
_JOINERS = frozenset("\u200c\u200d\u034f")


@dataclass(frozen=True)
class Piece:
    """A run of part text; ``findings``: the findings it is evidence of (none: plain)."""

    text: str
    findings: tuple[int, ...] = ()

    @property
    def finding(self) -> int | None:
        """The first finding it is evidence of, if any."""
        return self.findings[0] if self.findings else None


def pieces(text: str, spans: Iterable[Span]) -> tuple[Piece, ...]:
    """``text`` cut into plain and highlighted pieces (see the module docstring)."""
    out: list[Piece] = []
    at = 0
    for start, end, findings in highlights(text, spans):
        if start > at:
            out.append(Piece(text[at:start]))
        out.append(Piece(text[start:end], findings))
        at = end
    if at < len(text):
        out.append(Piece(text[at:]))
    return tuple(out)


def highlights(text: str, spans: Iterable[Span]) -> list[tuple[int, int, tuple[int, ...]]]:
    """Sorted, non-overlapping highlights: (start, end, finding numbers)."""
    whole = [_whole(text, s, e, n) for s, e, n in spans if 0 <= s < e <= len(text)]
    joined = [_joined(text, [w for w in whole if w[2] == n]) for n in sorted({w[2] for w in whole})]
    merged: list[tuple[int, int, tuple[int, ...]]] = []
    for start, end, number in sorted(span for group in joined for span in group):
        if merged and start < merged[-1][1]:
            last_start, last_end, numbers = merged[-1]
            found = numbers if number in numbers else (*numbers, number)
            merged[-1] = (last_start, max(last_end, end), found)
        else:
            merged.append((start, end, (number,)))
    return merged


def _joined(text: str, spans: list[Span]) -> list[Span]:
    """One finding's spans, those that overlap, touch or are only apart by
    separators made one."""
    out: list[Span] = []
    for start, end, number in sorted(spans):
        if out and _near(text, out[-1][1], start):
            out[-1] = (out[-1][0], max(out[-1][1], end), number)
        else:
            out.append((start, end, number))
    return out


def _near(text: str, end: int, start: int) -> bool:
    gap = text[end:start]
    return start <= end or (len(gap) <= MAX_GAP and set(gap) <= SEPARATORS)


def _whole(text: str, start: int, end: int, number: int) -> Span:
    """The span widened to whole characters as a reader sees them."""
    while start > 0 and (_continues(text[start]) or text[start - 1] in _JOINERS):
        start -= 1
    while end < len(text) and (_continues(text[end]) or text[end - 1] in _JOINERS):
        end += 1
    return start, end, number


def _continues(char: str) -> bool:
    """Whether ``char`` belongs with the character before it."""
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me")
        or char in _JOINERS
        or "\ufe00" <= char <= "\ufe0f"
        or "\udc00" <= char <= "\udfff"  # the second half of a surrogate pair
    )
