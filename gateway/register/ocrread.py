"""OCR text -> the text it meant: a second reading of text read off an image.

Tesseract confuses ``0/O/o/D/Q``, ``1/l/I/i/|/!``, ``5/S/s``, ``8/B``, ``2/Z``,
``6/G/b``, ``9/g/q``, ``rn/m``, ``cl/d``, ``vv/w``, ``li/h``; it drops spaces
(``27KingfisherClose``), breaks and hyphenates lines (``King-\\nfisher``), and puts
stray marks inside words and between a phone's digits.  ``read`` undoes what the
way a detail is written allows: a token in a digit position (a phone's, a house
number's, a date's) reads its digit-like letters as digits, a word reads its
letter-like digits as letters, a postcode reads each position as the class PAF gives
it (``SWIA IAA`` -> ``SW1A 1AA``, ``ocrcodes``), glued tokens come apart at a case or digit/word
boundary, and a line-end hyphen joins its word.  What the text alone cannot settle
(``rn`` or ``m`` inside a name) is left to the matcher, which compares words read
alike (``alike``).

Only segments read by OCR come here; ordinary text is never re-read.  A reading
keeps, for each of its characters, the offset in the OCR text it came from, so that
evidence found in the reading points into the segment's own text (``Reading.span``).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from gateway.register import address as A
from gateway.register.ocrcodes import (
    AS_CAPITALS,
    AS_DIGIT,
    lookalike_postcodes,
    postcode_readings,
)

# Digits in a lower-case word, as the letters they stand for (1 and bars: ``_l_or_i``).
_AS_LOWER = {"0": "o", "5": "s", "8": "b", "2": "z", "6": "b", "9": "g"}
_VOWELS = frozenset("aeiouyAEIOUY")

_CHARS = "A-Za-z0-9|!"  # what OCR writes inside a token
_DIGITISH = "0-9" + "".join(sorted(AS_DIGIT))
_LETTERISH = re.escape("".join(sorted(AS_CAPITALS)))
# Two tokens shaped like an outward and an inward code: a letter first, a digit first
# (or what OCR writes for one).
_POSTCODE_RE = re.compile(
    rf"(?<![{_CHARS}])([A-Za-z{_LETTERISH}][{_CHARS}]{{1,3}})( {{0,2}})"
    rf"([{_DIGITISH}][{_CHARS}]{{2}})"
    rf"(?![{_CHARS}])"
)
# Hyphen at a line's end inside a word; line breaks; marks inside a word (before a
# digit OCR wrote for a letter, quotes only: ``Drive,5heffield`` lost a space).
_HYPHENATED_RE = re.compile(r"(?<=[A-Za-z0125689|!])-[ \t]*\r?\n[ \t]*(?=[a-z0125689|!])")
_LINE_BREAKS = str.maketrans("\r\n\f\v", "    ")
_STRAY_RE = re.compile(
    "(?:(?<=[a-z])|(?<=[a-z][0-9|!I]))"
    "(?:[.',`\"\u2018\u2019\u00b4](?=[a-z][A-Za-z0-9|!])"
    "|['`\"\u2018\u2019\u00b4](?=[0-9|!][a-z0-9|!I]))"
)
# A capitalised word's first three letters, or four with a digit or bar OCR wrote for
# a letter (``K1ng``, ``Mi|l``, ``EImw``; not ``Ll12``, a postcode's); no capital that
# may itself be a digit before a lookalike (``O1l``: a phone's ``01l``).
_CAPITALISED = "(?:[A-HJ-Z][a-z]{2}|[ACEFHJ-NPR-Y](?:[a-z][0-9|!I][a-z]|[0-9|!I][a-z]{2}))"
# A word's double l (or ill) read as ones or bars (``Fernhi11``, ``Ha||``, ``FernhiI|``,
# ``Fernh11|``; not after an e: ``Close11``).
_DOUBLE_L_RE = re.compile(
    r"(?<=[A-Za-z][aiou])[1|!I]{2}(?![A-Za-z0-9|!])|(?<=[a-z]{3})[1|!I]{3}(?![A-Za-z0-9|!])"
)
# Where a space was dropped (not inside a postcode: ``LSllXX``): lower case (or an l as
# OCR writes it) then a capitalised word or a postcode (``KingfisherClose``,
# ``FernhiIlRoad``, ``HalifaxB14``; not an I, which may be an l, unless a capital
# follows it: ``FernhilIWay``; ``MewS`` stays), a number then a word (``27Kingfisher``;
# ``27th``, ``10am`` stay; one digit before lower case may be a letter: ``5treet``), a
# number with lookalikes in it (or of them), or one letter, then a capitalised word
# (``l02Elmwood``, ``lOKingfisher``, ``18|Millbrook``, ``lKingfisher``, ``bHawthorn``, ``Hawthor
# nWay``), a word then a number (``Close27``; not a 1 or 5 ending a word: ``Hil1``,
# ``Garden5``).
_GLUED_RE = re.compile(
    r"(?<=[a-z]{2})(?=[A-HJ-Z]I?[a-z]|[A-HJ-Z][A-Z]?[0-9])"
    r"|(?<=[a-z][a-z|!1I]{2})(?<![|!1I]{2})(?=[A-HJ-Z][a-z])"
    r"|(?<=[a-z]{2}I)(?=[A-Z][a-z])"
    rf"|(?<![A-Za-z0-9|!])(?:[0-9]{{2,4}}(?=[A-Za-z][a-z]{{2}}|{_CAPITALISED})"
    rf"|[0-9](?=[A-Z][a-z]{{2}}|{_CAPITALISED})"
    rf"|[{_DIGITISH}]{{2,4}}(?={_CAPITALISED})"
    rf"|[A-Za-z|](?={_CAPITALISED}))"
    r"|(?<=[a-z]{3})(?=(?:[0-9]{2,}|[2-46-9])(?![A-Za-z0-9|!]))"
)
_HOUSE_BEFORE_RE = re.compile(r"(?<![A-Za-z0-9])[0-9]{1,4}[A-Za-z]?[ \t]+$")
# A word of letters; a word with a digit or bar in it (``C1ose``).
_ALPHA_WORD_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{4,}(?![A-Za-z0-9])")
_DIGIT_WORD_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?=[{_CHARS}]*[0-9|!])[{_CHARS}]{{3,}}(?![A-Za-z0-9])"
)
# A run of digits and digit-like letters (two digits, or more digits than letters).
_NUMBER_RE = re.compile(rf"(?<![A-Za-z0-9|])[0-9{''.join(AS_DIGIT)}]{{2,}}(?![A-Za-z0-9|])")
# A one (``l``, ``I``, ``|``) standing alone before a name: a house number.
_LONE_ONE_RE = re.compile(r"(?<![^\s,(])[lI|](?= [A-Z][a-z])")
_GAP = "[ \t.()\\-,'`\"~_:;*^=\u2013\u2014]{1,3}"  # between a phone's digit groups
_DIGITS_BEFORE_RE = re.compile(f"[0-9][{_DIGITISH}]{{0,2}}{_GAP}$")  # ``90b,`` GB2
_DIGITS_AFTER_RE = re.compile(f"{_GAP}[0-9]")
# Three digits (or a digit and two lookalikes) and a gap: a phone's group before a run.
_PHONE_BEFORE_RE = re.compile(f"(?=[{_DIGITISH}]{{0,2}}[0-9])[{_DIGITISH}]{{3}}{_GAP}$")
# A word after a number (stray marks between); not a run of digits OCR began with a
# letter (``770D g00018``, ``770Q'qO0146``).
_WORD_AFTER_RE = re.compile(rf"[ \t,.'`\"]*(?:(?![{_DIGITISH}]*[0-9])[A-Za-z]|$)")
_IN_WORD_RE = re.compile(
    r"(?<=[A-Za-z])[0125689|!]{1,3}(?=[A-Za-z])"  # C1ose, Kingf|sher, Mi1|6rook
    r"|(?<=[A-Za-z])I(?=[a-z])"  # CIose
    r"|(?<![A-Za-z0-9])[0125689|!](?=[a-z]{2}|[A-Z]{3})"  # 5treet, 1ane
    r"|(?<=[a-z][a-z0-9|!][a-z])[15|!](?![A-Za-z0-9])"  # Garden5, Hil1, Fernh1l|
)
# Between a phone's digits: odd separators as spaces, braces as brackets, an O in them.
_PHONE_SEP_RE = re.compile("(?<=[0-9]) ?[,'`\"~_:;*^=\u2013\u2014\u2018\u2019] ?(?=[0-9])")
_BRACE_RE = re.compile(r"[\[{](?= ?[0-9OoDQ])|(?<=[0-9])[\]}]")
_BRACKETED_ZERO_RE = re.compile(r"(?<=\() ?[OoDQ] ?(?=\))")
# A UK number's trunk 0 read as the digit it looks like (``97700 900461``): no national
# number starts with 6, 8 or 9 and then a mobile's or an area's digit.
_TRUNK_RE = re.compile(r"(?<![0-9+])[689](?=[1237](?:[ .\-]?[0-9]){9}(?![0-9]))")
# A token with an "@" (or the ``©``/``®`` OCR reads for it): an email address, whose
# digits and letters are its own; only its marks are read.
_MAIL_MARK_RE = re.compile("[@\u00a9\u00ae]")
_MAIL_MARKS = str.maketrans({"\u00a9": "@", "\u00ae": "@", ",": "."})


@dataclass(frozen=True, slots=True)
class Reading:
    """The reading of one OCR text: ``text``, and for each of its characters (and one
    past the end) the offset in the OCR text it came from.  ``postcodes`` are the
    postcodes OCR left open (``TN23 4OP``: ``4QP`` or ``4DP``): (start, end, every
    reading) with offsets into ``text``, which keeps what OCR wrote there."""

    text: str
    origin: tuple[int, ...]
    postcodes: tuple[tuple[int, int, tuple[str, ...]], ...] = ()

    def span(self, start: int, end: int) -> tuple[int, int]:
        """``text[start:end]`` -> the offsets of the OCR text it was read from."""
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


def read(text: str) -> Reading | None:
    """The reading of an OCR text, or None when it reads as written."""
    edit = _Edit(text)
    # Passes that change lengths first, then those that change characters in place.
    edit.sub(_HYPHENATED_RE, lambda m: "")
    edit.sub(_STRAY_RE, lambda m: "", outside_mail=True)
    edit.sub(_DOUBLE_L_RE, lambda m: "ill"[-len(m[0]) :], outside_mail=True)
    edit.sub(_GLUED_RE, _unglue, outside_mail=True)
    edit.sub(_ALPHA_WORD_RE, _descriptor, outside_mail=True)
    edit.sub(_DIGIT_WORD_RE, _street_type, outside_mail=True)
    edit.text = edit.text.translate(_LINE_BREAKS)
    postcodes = edit.postcodes()
    edit.sub(_NUMBER_RE, _number, outside_mail=True, outside_postcodes=True)
    edit.sub(_IN_WORD_RE, _letter, outside_mail=True, outside_postcodes=True)
    edit.sub(_LONE_ONE_RE, lambda m: "1")
    edit.sub(_PHONE_SEP_RE, lambda m: m[0].translate(_SEPARATORS))
    edit.sub(_BRACE_RE, lambda m: "(" if m[0] in "[{" else ")")
    edit.sub(_BRACKETED_ZERO_RE, lambda m: re.sub("[OoDQ]", "0", m[0]))
    edit.sub(_TRUNK_RE, lambda m: "0")
    edit.sub_mail(lambda chunk: chunk.translate(_MAIL_MARKS))
    if edit.text == text and not postcodes:
        return None
    return Reading(edit.text, tuple(edit.origin), tuple(postcodes))


_SEPARATORS = str.maketrans(dict.fromkeys(",'`\"~_:;*^=\u2013\u2014\u2018\u2019", " "))


class _Edit:
    """A text being re-read, with each character's offset in the text it started as."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.origin = list(range(len(text) + 1))
        self.kept: list[tuple[int, int]] = []  # postcode spans the later passes leave
        self._mail: tuple[str | None, list[tuple[int, int]]] = (None, [])

    def sub(
        self,
        pattern: re.Pattern[str],
        replace: Callable[[re.Match[str]], str | None],
        *,
        outside_mail: bool = False,
        outside_postcodes: bool = False,
    ) -> None:
        """Replace each match by what ``replace`` makes of it (None: leave it), keeping
        the offsets: a replacement's characters share out the matched ones'."""
        text, origin = self.text, self.origin
        skip = self.mail_spans() if outside_mail else []
        if outside_postcodes:
            skip = sorted(skip + self.kept)
        changes = []
        for m in pattern.finditer(text):
            start, end = m.span()
            if skip and _inside(skip, start, end):
                continue
            new = replace(m)
            if new is not None and new != m[0]:
                changes.append((start, end, new))
        if not changes:
            return
        parts: list[str] = []
        done = 0
        for start, end, new in changes:
            parts += (text[done:start], new)
            done = end
        parts.append(text[done:])
        self.text = "".join(parts)
        if len(self.text) == len(text) and all(e - s == len(n) for s, e, n in changes):
            return  # characters changed in place: offsets as they were
        offsets: list[int] = []
        done = 0
        for start, end, new in changes:
            offsets += origin[done:start]
            offsets += _spread(origin, start, end, new, text[start:end])
            done = end
        offsets += origin[done:]
        self.origin = offsets

    def mail_spans(self) -> list[tuple[int, int]]:
        """Spans of the tokens with an ``@`` (or what OCR writes for it) in them."""
        if self._mail[0] is not self.text:
            self._mail = (self.text, _mail_spans(self.text))
        return self._mail[1]

    def sub_mail(self, replace: Callable[[str], str]) -> None:
        """Replace each email-like token, keeping its length."""
        text = self.text
        for start, end in self.mail_spans():
            text = text[:start] + replace(text[start:end]) + text[end:]
        self.text = text

    def postcodes(self) -> list[tuple[int, int, tuple[str, ...]]]:
        """Read every postcode-shaped pair of tokens by PAF's positions: one reading is
        written into the text, several are returned (the text keeps OCR's there); spans
        of postcodes, as written or read, are kept from the later passes."""
        text = self.text
        chars = list(text)
        open_: list[tuple[int, int, tuple[str, ...]]] = []
        for m in _postcode_candidates(text):
            found = postcode_readings(m[1], m[3])
            after_digits = _PHONE_BEFORE_RE.search(text, max(0, m.start() - 8), m.start())
            if found is None and after_digits and not m[0].isupper():
                continue  # a phone's digits (``07700 g000gS``), not a postcode in capitals
            if found is None:  # a postcode as written; OCR may have misread it as one
                self.kept.append(m.span())
                if also := lookalike_postcodes(m[1], m[3]):
                    open_.append((m.start(), m.end(), also))
                continue
            readings, near = found
            if not readings or after_digits:
                continue  # not a postcode; or the digits of a phone (``07700 g000O0``)
            self.kept.append(m.span())
            # one reading is written into the text; the others, and those one change
            # further (``L5l``: ``L51``, and ``LS1``), are probed
            if len(readings) > 1 or near:
                open_.append((m.start(), m.end(), readings + near))
            if len(readings) > 1:
                continue
            out = len(m[1])
            for offset, char in zip(range(m.start(1), m.end(1)), readings[0][:out], strict=True):
                chars[offset] = char
            for offset, char in zip(range(m.start(3), m.end(3)), readings[0][out:], strict=True):
                chars[offset] = char
        self.text = "".join(chars)
        return open_


def _unglue(m: re.Match[str]) -> str | None:
    """A space where one was dropped, unless the token is a postcode or a street
    descriptor OCR misread (``LSllXX``, ``CloSe``)."""
    text = m.string
    start = end = m.start()
    # a postcode or a descriptor is short: look no further (a long hostile token
    # with many glue points would otherwise be walked once for each)
    low, high = max(0, start - _LONGEST), min(len(text), end + _LONGEST)
    while start > low and text[start - 1] not in _TOKEN_ENDS:
        start -= 1
    while end < high and text[end] not in _TOKEN_ENDS:
        end += 1
    if start == low > 0 or end == high < len(text):
        return m[0] + " "  # a long token: no postcode, no descriptor
    word = text[start:end].lower()
    if word in A.STREET_TYPES or word in _ocr_types():
        return None
    after = end  # and the token after it, on this line or the next: an inward code
    while after < len(text) and after - end < 2 and text[after] in " \t\r\n":
        after += 1
    while after < min(len(text), end + _LONGEST) and text[after] not in _TOKEN_ENDS:
        after += 1
    for stop in {end, after}:
        code = _POSTCODE_RE.fullmatch(text[start:stop].translate(_LINE_BREAKS))
        if code is not None and postcode_readings(code[1], code[3]) != ((), ()):
            return None
    return m[0] + " "


_LONGEST = 16  # characters of a token round a glue point that may be a postcode
_TOKEN_ENDS = frozenset(" \t\r\n\f\v,.;:()[]{}<>\"'")


def _postcode_candidates(text: str) -> Iterator[re.Match[str]]:
    """Postcode-shaped pairs of tokens, each token tried as an outward code (a rejected
    pair moves on one token, not past its inward half)."""
    pos = 0
    while (m := _POSTCODE_RE.search(text, pos)) is not None:
        yield m
        pos = m.end(1)


def _mail_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _MAIL_MARK_RE.finditer(text):
        start = end = m.start()
        if spans and start < spans[-1][1]:
            continue  # a second mark in the same token
        # the token round the mark, or the tokens either side of a spaced one (``x @ y``)
        start -= len(text[max(0, start - 3) : start]) - len(
            text[max(0, start - 3) : start].rstrip()
        )
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end += 1
        end += len(text[end : end + 3]) - len(text[end : end + 3].lstrip())
        while end < len(text) and not text[end].isspace():
            end += 1
        spans.append((start, end))
    return spans


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    at = bisect.bisect_right(spans, (start, 1 << 62)) - 1
    return at >= 0 and spans[at][0] <= start and end <= spans[at][1]


def _spread(origin: list[int], start: int, end: int, new: str, old: str) -> list[int]:
    """Offsets for ``new`` replacing ``old`` at ``start:end``: the same ones when the
    size is kept; for a space inserted (``27`` -> ``27 ``, ``Kingfisherclose`` ->
    ``Kingfisher close``), the next character's; shared out otherwise (``dose`` ->
    ``close``), the last for the last."""
    size = len(new)
    if size == len(old):
        return origin[start:end]
    if size == len(old) + 1:
        at = next((k for k, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(old))
        if new[:at] + new[at + 1 :] == old:
            return origin[start : start + at + 1] + origin[start + at : end]
    if size == 0 or start == end:
        return [origin[start]] * size
    return [origin[start + (k * len(old)) // size] for k in range(size - 1)] + [origin[end - 1]]


# --- words and numbers ------------------------------------------------------------------


def _number(m: re.Match[str]) -> str | None:
    """Digit-like letters of a run that is mostly digits, stands among digit groups
    (``07700 gOO 000``), or is a short one with a digit or bar before a word (a house
    number: ``|B9 Wildmoor``, ``|S Kingfisher``), as digits; a letter ending a short number
    before a word is its suffix (``27B Kingfisher``), an s a plural, but not at the
    end of a phone (``07700 900 22Z``)."""
    run = m[0]
    digits = sum(c.isdigit() for c in run)
    before_word = _WORD_AFTER_RE.match(m.string, m.end()) is not None and not (
        _PHONE_BEFORE_RE.search(m.string, max(0, m.start() - 8), m.start())
    )
    house = before_word and len(run) <= 4 and (digits > 0 or "|" in run)  # ``|S``: 15
    mostly = digits >= 2 or 0 < digits >= len(run) - digits
    if not (mostly or house or _in_digits(m)):
        return None
    suffix = (
        run[-1].isalpha()
        and run[-2].isdigit()
        and before_word
        and (len(run) <= 4 or run[-1] == "s")
    )
    keep = run[-1] if suffix else ""
    body = run[: len(run) - len(keep)]
    return "".join(c if c.isdigit() else AS_DIGIT[c] for c in body) + keep


def _in_digits(m: re.Match[str]) -> bool:
    """Whether a run stands among digit groups (a phone's ``07700 gO0 461``)."""
    text, start, end = m.string, m.start(), m.end()
    return bool(_DIGITS_BEFORE_RE.search(text, max(0, start - 6), start)) or bool(
        _DIGITS_AFTER_RE.match(text, end)
    )


def _letter(m: re.Match[str]) -> str:
    """Digits (or bars, or a capital I) inside a word, as the letters they stand for."""
    text = m.string
    return "".join(_digit_letter(text, at) for at in range(m.start(), m.end()))


def _digit_letter(text: str, at: int) -> str:
    """The letter the digit or bar at ``text[at]`` stands for, by its neighbours."""
    char = text[at]
    if char in _AS_LOWER:
        return _AS_LOWER[char]
    before = text[at - 1] if at else ""
    after = text[at + 1] if at + 1 < len(text) else ""
    return _l_or_i(before, after)


def _l_or_i(before: str, after: str) -> str:
    """``1``, ``|``, ``I`` between two consonants is an ``i`` (``Kingf1sher``); beside
    a vowel, or at a word's end or start, an ``l`` (``C1ose``, ``Mi1l``, ``Hil1``)."""
    if before in _VOWELS or after in _VOWELS or not (before.isalpha() and after.isalpha()):
        return "l"
    return "i"


def _letters(word: str) -> str:
    """A word's letter-like digits as letters (``C1ose`` -> ``close``), lower case."""
    out = []
    for at, char in enumerate(word):
        if char.isalpha():
            out.append(char.lower())
        elif char in _AS_LOWER or char in "1|!":
            out.append(_digit_letter(word, at))
        else:
            out.append(char)
    return "".join(out)


def _street_type(m: re.Match[str]) -> str | None:
    """A street descriptor with a digit in it as OCR wrote it (``C1ose``, ``Wa1k``) ->
    the descriptor, also where the name before it lost its space after a house number
    (``27 Clayburn5treet`` -> ``27 Clayburn street``); other words are left to the later
    passes."""
    word = m[0]
    if sum(c.isalpha() for c in word) < 2:
        return None
    letters = _letters(word)  # one character for each of the word's
    if len(letters) >= 4 and letters in A.STREET_TYPES:
        return letters
    if (found := _ocr_types().get(letters)) is not None:
        return found
    if not _HOUSE_BEFORE_RE.search(m.string, max(0, m.start() - 8), m.start()):
        return None  # ``Fernh1ll`` alone is a name
    for size in range(4, len(letters) - 2):
        tail = letters[-size:]
        typed = tail if tail in A.STREET_TYPES else _ocr_types().get(tail)
        if typed is not None:
            return f"{word[:-size]} {typed}"
    return None


# OCR's confusions of letters, each way: what OCR may write for what was printed.
_SEQUENCES = (
    ("m", "rn"),
    ("rn", "m"),
    ("d", "cl"),
    ("cl", "d"),
    ("w", "vv"),
    ("vv", "w"),
    ("h", "li"),
    ("li", "h"),
    ("i", "l"),
    ("l", "i"),
    ("d", "ci"),  # cl, its l read as an I
)


@functools.cache
def _ocr_types() -> dict[str, str]:
    """Each descriptor (and abbreviation of four letters or more) as OCR may misread
    it once (``close`` as ``dose``, ``mews`` as ``rnews``, ``drive`` as ``drlve``) ->
    the descriptor."""
    out: dict[str, str] = {}
    for word in A.STREET_TYPES:
        if len(word) < 4:
            continue
        for printed, written in _SEQUENCES:
            at = word.find(printed)
            while at >= 0:
                variant = word[:at] + written + word[at + len(printed) :]
                if variant not in A.STREET_TYPES:
                    out.setdefault(variant, word)
                at = word.find(printed, at + 1)
    return out


@functools.cache
def _descriptors() -> tuple[frozenset[str], frozenset[int]]:
    """Descriptors of four letters or more, that a street's name may be glued to, and
    their lengths."""
    names = frozenset(w for w in A.STREET_TYPES if len(w) >= 4)
    return names, frozenset(map(len, names))


def _descriptor(m: re.Match[str]) -> str | None:
    """A word that is a descriptor as OCR misread it (``Dose``) -> the descriptor; a
    name with its descriptor glued on after a house number (``27 Kingfisherclose``; not
    ``Harrogate``) -> the two words."""
    word = m[0]
    lower = word.lower()
    misread = _ocr_types().get(lower)
    if misread is not None:
        return misread
    if not _HOUSE_BEFORE_RE.search(m.string, max(0, m.start() - 8), m.start()):
        return None
    names, sizes = _descriptors()
    for size in sizes:
        if len(word) - size >= 3 and lower[-size:] in names:
            return word[:-size] + " " + word[-size:]
    return None


# --- comparing words --------------------------------------------------------------------

_EXPAND_RE = re.compile("[mdwh]")
_EXPANDED = {"m": "rn", "d": "cl", "w": "vv", "h": "li"}
_SINGLES = str.maketrans("1|!i058269q", "llllosbzbgg")


def ocr_skeleton(word: str) -> str:
    """A folded word as OCR may have written it, spelled out, so that two readings of
    one print compare equal: ``m`` as ``rn``, ``d`` as ``cl``, ``w`` as ``vv``, ``h``
    as ``li``, then ``i``/``1``/``|`` as ``l``, ``0`` as ``o``, ``5`` as ``s``..."""
    return _EXPAND_RE.sub(lambda m: _EXPANDED[m[0]], word).translate(_SINGLES)


def loose_skeleton(word: str) -> str:
    """``ocr_skeleton`` with ``g`` as ``b`` too: OCR writes ``6`` for ``b`` and ``G`` for
    ``6`` (``MillGrook``), and text is folded to lower case, where ``G`` is ``g``.  For
    finding candidates only; ``alike`` decides."""
    return ocr_skeleton(word).replace("g", "b")


def alike(text_word: str, word: str) -> bool:
    """Within one edit, as written or as OCR may have read it (``Elrnwood`` and
    ``elmwood``; ``Kingflsher`` and ``kingfisher``)."""
    if OSA.distance(text_word, word, score_cutoff=1) <= 1:
        return True
    return OSA.distance(ocr_skeleton(text_word), ocr_skeleton(word), score_cutoff=1) <= 1
