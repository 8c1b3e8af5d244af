"""review (console): a held message -> what the message page shows.

Headers, recipients (restricted ones marked with their case), and the text of every
part with the evidence spans cut out as separate pieces, so the template marks them
and escapes everything.  The message's own HTML is never rendered: parts are shown as
the text the extractors read from them, within the same limits as the scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.console.attachments import Attachment, attachments
from gateway.console.explain import Reason, RuleReason, place, reasons, rule_reasons
from gateway.console.highlight import Piece, pieces
from gateway.extract import Limits, extract
from gateway.findings import Kind
from gateway.parse import parse_message
from gateway.policy import Policy
from gateway.segments import REDACTION
from gateway.store import HeldMessage

SHOWN_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID")
_RECIPIENT_KINDS = {Kind.RESTRICTED_RECIPIENT.value, Kind.PROBABLE_RESTRICTED_RECIPIENT.value}
#: what a reviewer reads for each kind of detail under a failed redaction
_DETAIL_WORDS = {
    Kind.ADDRESS.value: "an address",
    Kind.POSTCODE.value: "a postcode",
    Kind.STREET.value: "a street",
    Kind.PHONE.value: "a phone number",
    Kind.EMAIL.value: "an email address",
    Kind.NAME.value: "a name",
    Kind.DATE_OF_BIRTH.value: "a date of birth",
    Kind.PROTECTED_LOCATION.value: "a protected location's address",
}
REDACTION_NOTE = (
    "This was meant to be redacted and is not: the text under a box, in the page's "
    "colour or clipped away is still in the file, and anyone who copies it out can "
    "read it."
)


@dataclass(frozen=True)
class Part:
    location: str
    pieces: tuple[Piece, ...]
    marked: int
    #: ``Segment.hidden``: ``"redaction"`` for text a redaction meant to hide
    hidden: str = ""

    @property
    def where(self) -> str:
        """The part's place in words (``The body``, ``The attachment letter.pdf``)."""
        words = place(self.location)
        return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class Recipient:
    address: str
    case: str | None  # the register case when this recipient is a restricted contact
    probable: bool = False


@dataclass(frozen=True)
class MessageView:
    headers: tuple[tuple[str, str], ...]
    recipients: tuple[Recipient, ...]
    parts: tuple[Part, ...]
    unreadable: tuple[tuple[str, str], ...]
    findings: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    #: finding number -> what a failed_redaction means, in words
    notes: Mapping[int, str] = field(default_factory=dict)
    #: a sentence per finding, and each rule that held the message in its own words
    reasons: tuple[Reason, ...] = ()
    rules: tuple[RuleReason, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def titles(self, numbers: Sequence[int]) -> str:
        """What a highlight is evidence of, for its title: the findings' sentences."""
        return " ".join(r.sentence for r in self.reasons if r.number in numbers)


def message_view(message: HeldMessage, limits: Limits, policy: Policy | None = None) -> MessageView:
    """What the message page shows, read again within the scan's ``limits`` (a held
    message may be one held because it took too long: its view stops in time too,
    and lists the part it did not finish as unreadable); the rules that held it are
    described as ``policy`` has them."""
    parsed = parse_message(message.raw)
    headers = tuple(
        (name, str(value)) for name in SHOWN_HEADERS for value in parsed.get_all(name) or ()
    )
    extraction = extract(message.raw, limits)
    by_location: dict[str, list[Mapping[str, Any]]] = {}
    for item in message.evidence:
        by_location.setdefault(str(item.get("location")), []).append(item)
    parts = tuple(
        _part(segment.location, segment.text, by_location.get(segment.location, ()), segment.hidden)
        for segment in extraction.segments
    )
    return MessageView(
        headers=headers,
        recipients=_recipients(message),
        parts=parts,
        unreadable=tuple((u.location, u.reason) for u in extraction.unreadable),
        findings=tuple(message.findings),
        notes=redaction_notes(message.findings),
        reasons=reasons(message.findings, _recipient_of(message)),
        rules=rule_reasons(policy, message.rules),
        attachments=attachments(parsed, extraction),
    )


def redaction_notes(findings: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """For each ``failed_redaction`` finding, the sentence that says what it means and
    which kinds of detail the hidden text carries (the findings under the redaction
    at the same place, for the same case); kinds only, never the text."""
    notes = {}
    for number, f in enumerate(findings):
        if f.get("kind") != Kind.FAILED_REDACTION.value:
            continue
        under = dict.fromkeys(
            _DETAIL_WORDS[str(g.get("kind"))]
            for g in findings
            if g.get("hidden") == REDACTION
            and str(g.get("kind")) in _DETAIL_WORDS
            and (g.get("case"), g.get("location")) == (f.get("case"), f.get("location"))
        )
        carries = _listed(list(under)) or "a protected detail"
        case = f" of case {f.get('case')}" if f.get("case") else ""
        notes[number] = f"{REDACTION_NOTE} It carries {carries}{case}."
    return notes


def _listed(words: Sequence[str]) -> str:
    """``a, b and c`` ('' for none)."""
    return "".join(words) if len(words) < 2 else ", ".join(words[:-1]) + " and " + words[-1]


def _recipient_of(message: HeldMessage) -> dict[int, str]:
    """Recipient finding number -> the address it is about (its evidence's text)."""
    out: dict[int, str] = {}
    for item in message.evidence:
        number = int(item.get("finding", -1))
        if (
            0 <= number < len(message.findings)
            and message.findings[number].get("kind") in _RECIPIENT_KINDS
        ):
            out.setdefault(number, str(item.get("text", "")))
    return out


def _recipients(message: HeldMessage) -> tuple[Recipient, ...]:
    """Each envelope recipient, marked when a recipient finding's evidence names it."""
    marks: dict[str, tuple[str, bool]] = {}
    for item in message.evidence:
        number = int(item.get("finding", -1))
        if not 0 <= number < len(message.findings):
            continue
        finding = message.findings[number]
        if finding.get("kind") in _RECIPIENT_KINDS:
            probable = finding.get("kind") == Kind.PROBABLE_RESTRICTED_RECIPIENT.value
            marks[str(item.get("text", "")).lower()] = (str(finding.get("case")), probable)
    out = []
    for address in message.rcpt_tos:
        hit = next((v for text, v in marks.items() if address.lower() in text), None)
        out.append(Recipient(address, hit[0] if hit else None, hit[1] if hit else False))
    return tuple(out)


def _part(
    location: str, text: str, evidence: Iterable[Mapping[str, Any]], hidden: str = ""
) -> Part:
    cut = pieces(text, _spans(text, evidence))
    marked = sum(1 for p in cut if p.findings)
    return Part(location, cut, marked, hidden)


def _spans(text: str, evidence: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, int]]:
    """Evidence offsets into ``text``; where they do not fit, the evidence text is found."""
    out = []
    for item in evidence:
        start, end, wanted = int(item.get("start", 0)), int(item.get("end", 0)), item.get("text")
        number = int(item.get("finding", 0))
        if isinstance(wanted, str) and wanted and text[start:end] != wanted:
            found = text.find(wanted)
            if found < 0:
                continue
            start, end = found, found + len(wanted)
        if 0 <= start < end <= len(text):
            out.append((start, end, number))
    return out


def finding_summary(findings: Sequence[Mapping[str, Any]]) -> str:
    kinds = dict.fromkeys(str(f.get("kind")) for f in findings)
    return ", ".join(kinds) or "-"
