"""(probe, posting) pairs -> findings and evidence, checked against the case records.

Anchors only say where to look; here each hit is confirmed or dropped: typo hits
must be within one edit, an address followed by a different postcode is a different
address, an initial must not be the ``s`` of a possessive.  Findings are kept per
(kind, case, location, hidden) with the best score; evidence spans are kept apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.findings import Confidence, Evidence, Finding, Kind
from gateway.match import content as C
from gateway.match import ocr
from gateway.match import streets as S
from gateway.match.extent import address_span
from gateway.match.index import Index, unpack
from gateway.match.keys import Code
from gateway.register import normalise as N
from gateway.register.ocrcodes import one_apart
from gateway.segments import OCR, Segment

HIGH, MEDIUM, LOW = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW
# Codes whose postings only matter for the same case's restricted recipients: when a
# key is shared by many cases, only those cases are reported.
WEAK = frozenset({Code.NAME, Code.NAME_TYPO, Code.POSTCODE, Code.DOB, Code.STREET})
WEAK_LIMIT = 16
_ADDRESS_CODES = {Code.ADDRESS, Code.ADDRESS_TYPO, Code.GENERIC, Code.STREET}
_TOKEN_PROBES = {"name", "name_typo", "generic", "address", "address_typo", "street"}
# (kind, case, location, the segment's ``hidden``)
_Key = tuple[Kind, str, str, str]


@dataclass
class Collector:
    """Best finding per (kind, case, location, hidden), plus every evidence span.

    ``hidden`` is the segment's: the same detail in a page's visible text and under a
    redaction box on it are two findings, so the reviewer sees which one was meant
    to be hidden."""

    best: dict[_Key, tuple[int, Confidence]] = field(default_factory=dict)
    spans: list[tuple[_Key, int, int, int]] = field(default_factory=list)
    addressed: set[tuple[int, int, int, int]] = field(default_factory=set)

    def add(
        self,
        kind: Kind,
        case: str,
        segment: Segment,
        number: int,
        score: int,
        conf: Confidence,
        span: tuple[int, int],
    ) -> None:
        key = (kind, case, segment.location, segment.hidden)
        old = self.best.get(key)
        if old is None or (conf.rank, score) > (old[1].rank, old[0]):
            self.best[key] = (score, conf)
        self.spans.append((key, number, *span))

    def findings(
        self,
        segments: Sequence[Segment],
        first_index: int = 0,
    ) -> tuple[list[Finding], list[Evidence]]:
        """Findings in first-seen order; evidence numbered as in the full findings list."""
        order = list(self.best)
        findings = [
            Finding(kind, case, loc, conf, score, hidden=hidden or None)
            for (kind, case, loc, hidden), (score, conf) in self.best.items()
        ]
        where = {key: first_index + i for i, key in enumerate(order)}
        evidence = [
            Evidence(where[key], key[2], start, end, segments[seg].text[start:end])
            for key, seg, start, end in self.spans
        ]
        return findings, evidence


class Verifier:
    """Confirms hits of one message against the index's records."""

    def __init__(
        self,
        index: Index,
        segments: Sequence[Segment],
        folded: Sequence[str],
        focus: set[int],
        origin: Sequence[int] = (),
    ) -> None:
        self.index = index
        self.segments = segments
        self.folded = folded
        self.focus = focus
        # The segment each one reads (an OCR segment's second reading, ``ocr``: its
        # own), so that an address found in one reading absorbs its postcode in both.
        self.origin = origin
        self.out = Collector()
        self._token_bounds: dict[int, tuple[list[int], list[int]]] = {}

    def run(self, probes: Sequence[C.Probe], postings: Sequence[list[int]]) -> Collector:
        """Check every hit.  Postcodes come after addresses, which absorb them.  A date
        is weak evidence (many people share a birthday): it counts only for a case
        already found in the message or one a recipient is restricted for."""
        postcodes: list[tuple[C.Probe, int]] = []
        dates: list[tuple[C.Probe, int]] = []
        for probe, hits in zip(probes, postings, strict=True):
            for value in hits:
                if probe.what == "postcode":
                    postcodes.append((probe, value))
                elif probe.what == "dob":
                    dates.append((probe, value))
                else:
                    self._check(probe, value)
        for probe, value in postcodes:
            self._check(probe, value)
        found = {key[1] for key in self.out.best}
        for probe, value in dates:
            record = unpack(value)[0]
            if record in self.focus or self.index.record(record)[1] in found:
                self._check(probe, value)
        return self.out

    def _add(
        self,
        kind: Kind,
        case: str,
        probe: C.Probe,
        score: int,
        conf: Confidence,
        form: Any = None,
    ) -> None:
        """One finding; with the address ``form`` it stands for, its evidence is the
        whole address around the hit (``extent``), not the anchor alone."""
        segment = self.segments[probe.segment]
        span = self._span(probe)
        if form is not None:
            span = address_span(self.folded[probe.segment], span, form)
        self.out.add(kind, case, segment, probe.segment, score, conf, span)

    def _span(self, probe: C.Probe) -> tuple[int, int]:
        """Character offsets of a probe (names and generic probes count in tokens)."""
        if probe.what not in _TOKEN_PROBES:
            return probe.start, probe.end
        bounds = self._token_bounds.get(probe.segment)
        if bounds is None:
            bounds = self._token_bounds[probe.segment] = token_bounds(self.folded[probe.segment])
        return bounds[0][probe.start], bounds[1][probe.end]

    def _similar(self, probe: C.Probe) -> Callable[[str, str], bool]:
        """The word test for the probe's segment: OCR's confusions allowed in text
        read off an image."""
        return ocr.similar if self.segments[probe.segment].reading == OCR else C.within_one_edit

    def _check(self, probe: C.Probe, value: int) -> None:
        record_no, code, person, detail = unpack(value)
        record = self.index.record(record_no)
        if code in _ADDRESS_CODES or code == Code.POSTCODE:
            self._address(probe, record_no, record, code, person, detail)
            return
        result = self._simple(probe, record, code, person, detail)
        if result is not None:
            kind, score, conf = result
            self._add(kind, record[1], probe, score, conf)

    def _simple(
        self,
        probe: C.Probe,
        record: Any,
        code: Code,
        person: int,
        detail: int,
    ) -> tuple[Kind, int, Confidence] | None:
        if code == Code.PHONE:
            return Kind.PHONE, 100, HIGH
        if code == Code.EMAIL:
            return Kind.EMAIL, 100, HIGH
        if code == Code.DOB:
            return Kind.DATE_OF_BIRTH, 100, HIGH
        if code == Code.NAME:
            return self._name(probe, detail)
        if code == Code.NAME_TYPO:
            surname = record[2][person][0]
            if probe.word != surname and self._similar(probe)(probe.word, surname):
                return Kind.NAME, 80, MEDIUM
        return None

    def _name(self, probe: C.Probe, detail: int) -> tuple[Kind, int, Confidence] | None:
        if detail == 2:  # an initial: not the "s" of "Whitmore's"
            text = self.folded[probe.segment]
            start = self._span(probe)[0]
            before = text[start - 1 : start] if start else ""
            after = text[start + 1 : start + 2]
            if before == "'" or (after and after.isalpha()):
                return None
            return Kind.NAME, 70, MEDIUM
        return (Kind.NAME, 95, HIGH) if detail == 0 else (Kind.NAME, 90, HIGH)

    def _address(
        self, probe: C.Probe, record_no: int, record: Any, code: Code, person: int, detail: int
    ) -> None:
        if record[0] == "L":
            kind, form = Kind.PROTECTED_LOCATION, record[2][0]
        else:
            kind, form = Kind.ADDRESS, record[2][person][1][detail]
        text = self.folded[probe.segment]
        seg = self.origin[probe.segment] if self.origin else probe.segment
        seen = (record_no, person, detail, seg)
        if code == Code.POSTCODE:
            self._postcode(probe, record[1], kind, form, seen)
            return
        if code == Code.STREET:
            self._street(probe, record[1], kind, form, seen)
            return
        read_by_ocr = self.segments[probe.segment].reading == OCR
        result = _score_address(text, probe, self._span(probe), code, form, read_by_ocr)
        if result is not None:
            self.out.addressed.add(seen)
            self._add(kind, record[1], probe, *result, form)

    def _street(
        self, probe: C.Probe, case: str, kind: Kind, form: Any, seen: tuple[int, int, int, int]
    ) -> None:
        """A street named without a number before it: the address when its number or
        house name is there, a ``street`` finding when its town or district is."""
        ocr = self.segments[probe.segment].reading == OCR
        result = S.score_street(self.folded[probe.segment], self._span(probe), form, ocr)
        if result is None:
            return
        found, score, conf = result
        if found == Kind.ADDRESS:
            self.out.addressed.add(seen)
            self._add(kind, case, probe, score, conf, form)
        elif kind == Kind.ADDRESS:  # a refuge's street alone is not its address
            self._add(found, case, probe, score, conf, form)

    def _postcode(
        self, probe: C.Probe, case: str, kind: Kind, form: Any, seen: tuple[int, int, int, int]
    ) -> None:
        if seen in self.out.addressed:
            return
        text = self.folded[probe.segment]
        house, street = form[0], form[2]
        near = C.words_near(text, probe.start, probe.start, before=160, after=0)
        if house and street and C.street_in(near, house, street, self._similar(probe)):
            self.out.addressed.add(seen)
            self._add(kind, case, probe, 95, HIGH, form)
            return
        if kind == Kind.PROTECTED_LOCATION:
            self._add(kind, case, probe, 75, MEDIUM, form)
            return
        self._add(Kind.POSTCODE, case, probe, 100, HIGH)


# ASCII letters and digits: what ``TOKEN_RE`` matches in ASCII text.
_ASCII_WORD = np.array([chr(c).isalnum() and c < 128 for c in range(256)], dtype=np.int8)


def token_bounds(folded: str) -> tuple[list[int], list[int]]:
    """Start and end offsets of every ``TOKEN_RE`` token; for ASCII text from a byte
    table, since a regex match object per word costs more than all of the rest."""
    if not folded.isascii():
        spans = [m.span() for m in N.TOKEN_RE.finditer(folded)]
        return [s for s, _ in spans], [e for _, e in spans]
    word = _ASCII_WORD[np.frombuffer(folded.encode("ascii"), dtype=np.uint8)]
    edges = np.flatnonzero(np.diff(word, prepend=0, append=0))
    return edges[0::2].tolist(), edges[1::2].tolist()


def _score_words(text: str, span: tuple[int, int], form: Any) -> tuple[int, Confidence] | None:
    """An address with no UK street line: every number of it, and most of its words,
    nearby."""
    words = form[6]
    window = set(N.folded_tokens(text[max(0, span[0] - 80) : span[1] + 160]))
    if not all(w in window for w in words if any(ch.isdigit() for ch in w)):
        return None
    score = round(100 * sum(w in window for w in words) / len(words))
    return None if score < 75 else (score, HIGH if score >= 90 else MEDIUM)


def _score_address(
    text: str,
    probe: C.Probe,
    span: tuple[int, int],
    code: Code,
    form: Any,
    read_by_ocr: bool = False,
) -> tuple[int, Confidence] | None:
    """Score of an address hit, or None when the text contradicts it (in OCR'd text, a
    postcode one character off is the address's misread, not another one's)."""
    similar = ocr.similar if read_by_ocr else C.within_one_edit
    _house, flat, street, _kind, town, postcode, _words, building, _also = form
    if code == Code.GENERIC:
        return S.score_building(text, span, form) if building else _score_words(text, span, form)
    typo = code == Code.ADDRESS_TYPO
    if typo and (probe.word == street or not similar(probe.word, street)):
        return None
    found = C.postcode_after(text, span[1])
    if (
        postcode
        and found
        and found != postcode
        and not (read_by_ocr and one_apart(found, postcode))
    ):
        return None
    near = set(C.words_near(text, span[0], span[1], before=30, after=60))
    corroborated = bool(found) or bool(near.intersection(town)) or (bool(flat) and flat in near)
    if typo:
        return (90, HIGH) if corroborated else (85, MEDIUM)
    return (100, HIGH) if corroborated else (95, HIGH)
