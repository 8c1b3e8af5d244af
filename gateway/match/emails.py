"""Folded text -> the email addresses it spells, however they are written.

``x@y.z`` and its disguises: spaces around the ``@`` or a dot (``x @ y .z``), the
``@`` or dots written as words, bare or bracketed (``x at y dot z``, ``x [at] y
(dot) z``, ``x {at} y.z``), and a link's percent-encoding (``mailto:x%40y.z``).  A
written-out address is ambiguous where it starts and ends (``... the end. x at y.z.
Thanks``), so every reading is returned; the matcher looks each one up in the
register's index, where only a protected address can hit, so a wrong reading costs
one hash look-up and is never a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

_ATEXT = r"[a-z0-9!#$%&*+/=?^_`{|}~'-]+"  # RFC 5322 atext (folded text is lower case)
_LABEL = r"[a-z0-9-]+"
_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
_WORDS = {"dot": ".", "underscore": "_", "hyphen": "-", "dash": "-"}
_ANY_WORD = "|".join(_WORDS)


def _spelled(words: str, opening: str = _OPEN, closing: str = _CLOSE) -> str:
    """A separator written as a word: bracketed, or bare between spaces."""
    return rf"\s*{opening}\s*(?:{words})\s*{closing}\s*|\s+(?:{words})\s+"


_DOT = rf"(?:[ \t]*\.[ \t]*|{_spelled('dot')})"
DOMAIN_RE = re.compile(rf"{_LABEL}(?:{_DOT}{_LABEL}){{1,8}}")
# The mailbox name is read backwards from the "@": matched on the reversed text, from
# its start, so that finding where it begins costs one pass, not one per character.
_REVERSED_SEP = rf"(?:[ \t]*\.[ \t]*|{_spelled(_ANY_WORD[::-1], _CLOSE, _OPEN)})"
_REVERSED_LOCAL_RE = re.compile(rf"{_ATEXT}(?:{_REVERSED_SEP}{_ATEXT}){{0,8}}")
_MARKS_RE = re.compile(
    rf"\s*{_OPEN}\s*({_ANY_WORD})\s*{_CLOSE}\s*|\s+({_ANY_WORD})\s+|[ \t]*\.[ \t]*"
)
# The "@" written as a word: one pattern that starts with the literal "at", which the
# engine skips to at C speed; a bracket must close it, or (a bare word) something
# shaped like a domain follow it, before Python sees it.
_WORD_AT_RE = re.compile(
    rf"at(?:\s*({_CLOSE})|\s+(?={_LABEL}(?:[ \t]*\.[ \t]*[a-z0-9]|\s*{_OPEN}\s*dot|\s+dot\s)))"
)
_OPENING_RE = re.compile(rf"{_OPEN}\s*$")
# An address as usually written (the fast path), and the signs that it is not: spaces
# before a dot, or a dot written as a word (a full stop has no space before it, so an
# address that ends a sentence stays on the fast path).
_PLAIN_LOCAL_RE = re.compile(r"[a-z0-9!#$%&*+/=?^_`{|}~.'-]+")  # matched reversed
_PLAIN_DOMAIN_RE = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_SPELLED_ON_RE = re.compile(rf"[ \t]+\.|\s*{_OPEN}\s*dot|\s+dot\s")
_SPELLED_BEFORE_RE = re.compile(rf"(?:\sdot|dot\s*{_CLOSE}|\.)\s+$")
_PLAIN_WINDOW = 64  # RFC 5321: a mailbox name is at most 64 characters
_LOCAL_WINDOW = 100  # the same, spelled out
_MAX_READINGS = 6  # readings kept on each side of the "@"

Found = tuple[int, int, str]  # start, end, address


def candidates(text: str) -> Iterator[Found]:
    """(start, end, address) of every reading of every address ``text`` may spell."""
    at = text.find("@")
    while at > 0:
        yield from _at_sign(text, at)
        at = text.find("@", at + 1)
    at = text.find("%")  # a one-character search runs at memchr speed
    while at >= 0:
        if text.startswith("40", at + 1):
            yield from _spelled_out(text, at, at + 3)
        at = text.find("%", at + 1)
    for start, end in _words(text):
        yield from _spelled_out(text, start, end)


def _at_sign(text: str, at: int) -> Iterator[Found]:
    """The address around one ``@``: as written when it is plain, or every reading when
    spaces or written separators stand around its parts."""
    local = _PLAIN_LOCAL_RE.match(text[max(0, at - _PLAIN_WINDOW) : at][::-1])
    domain = _PLAIN_DOMAIN_RE.match(text, at + 1)
    if local is not None and domain is not None:
        begin = at - local.end()
        if not _SPELLED_ON_RE.match(text, domain.end()) and not (
            begin > 0
            and text[begin - 1] in " \t"
            and _SPELLED_BEFORE_RE.search(text, max(0, begin - 12), begin)
        ):
            address = (text[begin:at] + "@" + domain.group()).strip(".'")
            yield begin, domain.end(), address
            if "%" in address:
                yield begin, domain.end(), unquote(address)
            return
    yield from _spelled_out(text, *_spaced(text, at, at + 1))


def _spaced(text: str, start: int, end: int) -> tuple[int, int]:
    """``start:end`` widened over the white space on both sides."""
    while start > 0 and text[start - 1].isspace():
        start -= 1
    while end < len(text) and text[end].isspace():
        end += 1
    return start, end


def _words(text: str) -> Iterator[tuple[int, int]]:
    """Spans of every "at" written as a word, bare or in brackets, with the spaces
    around them."""
    for m in _WORD_AT_RE.finditer(text):
        start, end = m.span()
        if m.group(1) is None:  # bare: a word of its own
            if start > 0 and text[start - 1].isspace():
                yield start - 1, end
            continue
        opening = _OPENING_RE.search(text, max(0, start - 4), start)
        if opening is not None:
            yield _spaced(text, opening.start(), end)


def _spelled_out(text: str, start: int, end: int) -> Iterator[Found]:
    """Every reading of the address whose "@" (in any form) spans ``start:end``."""
    domain = DOMAIN_RE.match(text, end)
    if domain is None:
        return
    window = text[max(0, start - _LOCAL_WINDOW) : start][::-1]
    local = _REVERSED_LOCAL_RE.match(window)
    if local is None:
        return
    begin = start - local.end()
    for address in _readings(text[begin:start], domain.group()):
        yield begin, domain.end(), address


def _plain(spelled: str) -> str:
    """``sarah dot w [dot] safe`` -> ``sarah.w.safe``."""
    return _MARKS_RE.sub(lambda m: _WORDS.get(m.group(1) or m.group(2) or "dot", "."), spelled)


def _readings(local: str, domain: str) -> Iterator[str]:
    """Every tail of the mailbox name and head of the domain, at their dots (the text
    before an address may end a sentence, the text after it may go on); percent
    escapes of a link decoded too."""
    names = _plain(local).split(".")
    labels = _plain(domain).split(".")
    tails = [".".join(names[i:]) for i in range(max(0, len(names) - _MAX_READINGS), len(names))]
    heads = [".".join(labels[:i]) for i in range(2, min(len(labels), _MAX_READINGS + 1) + 1)]
    for tail in tails:
        for head in heads:
            address = f"{tail}@{head}".strip(".'")
            yield address
            if "%" in address:
                yield unquote(address)
