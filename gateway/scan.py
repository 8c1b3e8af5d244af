"""Envelope -> Verdict: the whole core (parse, extract, match, decide) on one message.

Pure and free of I/O, so the SMTP proxy, the milter and ``gateway scan`` all call
this one function, in a worker when CPU time matters.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from email.message import Message
from email.utils import getaddresses
from pathlib import PurePath
from urllib.parse import unquote

import structlog

from gateway.budget import NEVER, Deadline, OverBudget
from gateway.envelope import Envelope
from gateway.extract import Limits, extract
from gateway.extract.headers import decode_words, unfold
from gateway.findings import Confidence, Finding, Kind, Match
from gateway.match import Addressee, Index, match
from gateway.parse import parse_message
from gateway.policy import Policy, decide
from gateway.register.glyphs import clean
from gateway.register.normalise import canonical_email
from gateway.segments import Extraction, Segment, Unreadable
from gateway.verdict import Verdict

RECIPIENT_HEADERS = ("to", "cc", "bcc")
log = structlog.get_logger("gateway.scan")


@dataclass(frozen=True)
class ScanSettings:
    """What the core needs besides the message, the register index and the policy."""

    internal_domains: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class ScanResult:
    """The verdict, the findings behind it (evidence inside, for reviewers) and the time."""

    verdict: Verdict
    match: Match
    elapsed_ms: float
    register_version: int = 0  # the version whose index scanned it (0: not known here)
    #: the decoded Subject, kept sealed with a held message for the review list
    subject: str = ""


SCAN_FAILED = "scan failed"


def scan(envelope: Envelope, index: Index, policy: Policy, settings: ScanSettings) -> ScanResult:
    """Scan one message end to end, within ``settings.limits.time_budget_s`` (one
    deadline for extraction and matching together).  Fails closed: if the core itself
    breaks, or matching runs out of time, the message is unscannable as a whole,
    which the policy holds.  The deadline is cooperative (checked between chunks of
    work): a scan process that still overruns is killed (``gateway/workers.py``);
    a scan thread, or ``gateway scan``, has only this deadline."""
    started = time.perf_counter()
    try:
        result, subject = _findings(envelope, index, settings)
    except OverBudget as stop:
        log.warning("scan over time budget", reason=stop.reason)
        return unscannable(policy, stop.reason, (time.perf_counter() - started) * 1000)
    except Exception as exc:
        log.error("scan failed", error=exc.__class__.__name__)
        return unscannable(policy, SCAN_FAILED, (time.perf_counter() - started) * 1000)
    verdict = decide(policy, result.findings, result.recipients)
    return ScanResult(verdict, result, (time.perf_counter() - started) * 1000, subject=subject)


def unscannable(policy: Policy, reason: str, elapsed_ms: float) -> ScanResult:
    """The result for a message that could not be scanned as a whole: the policy holds it."""
    failed = Finding(Kind.UNSCANNABLE, None, "message", Confidence.HIGH, 100, reason=reason)
    return ScanResult(decide(policy, (failed,), ()), Match((failed,)), elapsed_ms)


def _findings(envelope: Envelope, index: Index, settings: ScanSettings) -> tuple[Match, str]:
    deadline = Deadline.after(settings.limits.time_budget_s)
    # One parse for the text and for the recipients' display names (extract declines
    # a message over the size limit before parsing it, and so does this).
    oversize = len(envelope.raw) > settings.limits.max_message_bytes
    message = None if oversize else parse_message(envelope.raw)
    extracted = extract(envelope.raw, settings.limits, deadline, message)
    extraction = guard_attachment_names(index, extracted, deadline)
    named = addressees(envelope, message)
    found = match(index, extraction.segments, named, settings.internal_domains, deadline)
    unscannable = tuple(
        Finding(Kind.UNSCANNABLE, None, u.location, Confidence.HIGH, 100, reason=u.reason)
        for u in extraction.unreadable
    )
    subject = "" if message is None else _subject(message)
    return Match(found.findings + unscannable, found.recipients, found.evidence), subject


def _subject(message: Message) -> str:
    """The message's Subject as a reader sees it (encoded words decoded, one line)."""
    value = message.get("Subject")
    return "" if value is None else " ".join(decode_words(unfold(str(value))).split())


def guard_attachment_names(
    index: Index, extraction: Extraction, deadline: Deadline = NEVER
) -> Extraction:
    """Attachment names are text too: every name the extractors saw (files, archive
    members and folders, whatever they hold) that carries a protected detail is matched
    as a segment of its own, and replaced in every location by a neutral name (keeping
    its extension), since locations appear in findings, logs and the console."""
    names = {part for loc in _locations(extraction) for part in _split(loc)[0]}
    risky: dict[str, str] = {}
    for name in sorted(names):
        text = _name_text(name)
        # each name alone: a date counts only beside a detail found in the same text
        if match(index, [Segment("name", text)], (), (), deadline).findings:
            risky[name] = text
    if not risky:
        return extraction
    renamed = {name: f"[name-{i}]{_extension(name)}" for i, name in enumerate(risky, start=1)}

    def relocate(loc: str) -> str:
        parts, fragment = _split(loc)
        if not parts:
            return loc
        return _ATTACHMENT + "/".join(renamed.get(p, p) for p in parts) + fragment

    named: dict[str, str] = {}
    for loc in _locations(extraction):
        parts = _split(loc)[0]
        for depth, part in enumerate(parts, start=1):
            if part in risky:
                named[relocate(_ATTACHMENT + "/".join(parts[:depth]))] = risky[part]
    return Extraction(
        tuple(replace(s, location=relocate(s.location)) for s in extraction.segments)
        + tuple(Segment(loc, text) for loc, text in sorted(named.items())),
        tuple(Unreadable(relocate(u.location), u.reason) for u in extraction.unreadable),
        extraction.defects,
        tuple(dict.fromkeys(relocate(loc) for loc in extraction.names)),
    )


_ATTACHMENT = "attachment:"
#: a suffix that names a view of a file (``letter.pdf#metadata``, ``scan.tif#page=2``),
#: not part of its name
_FRAGMENT = re.compile(r"#(?:metadata|page=[0-9]+)$")
#: what people put between words of a file name instead of spaces
_NAME_SEPARATORS = re.compile(r"[\s_+~=,;.-]+")
#: word boundaries written without a separator: ``KingfisherRoad``, ``Flat3``, ``27Kingfisher``
_NAME_JOINS = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z]{2})")


def _locations(extraction: Extraction) -> list[str]:
    """Every location the extraction mentions: text, unreadable parts, bare names."""
    return (
        [s.location for s in extraction.segments]
        + [u.location for u in extraction.unreadable]
        + list(extraction.names)
    )


def _split(loc: str) -> tuple[list[str], str]:
    """The path components of an attachment location and its view fragment, if any."""
    if not loc.startswith(_ATTACHMENT):
        return [], ""
    path = loc[len(_ATTACHMENT) :]
    found = _FRAGMENT.search(path)
    fragment = found[0] if found else ""
    path = path[: len(path) - len(fragment)]
    return [p for p in path.split("/") if p], fragment


def _name_text(name: str) -> str:
    """A file name as the words it spells: as written, without its extension, and with
    separators (``_``, ``-``, dots, ``%20``) and run-together words spaced out."""
    name = clean(name)  # invisible characters and lookalikes, as in every segment
    stem = name[: len(name) - len(_extension(name))] or name
    spaced = _NAME_SEPARATORS.sub(" ", _NAME_JOINS.sub(" ", unquote(stem))).strip()
    return "\n".join(dict.fromkeys((name, stem, spaced)))


def _extension(name: str) -> str:
    suffix = PurePath(name).suffix
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


def addressees(envelope: Envelope, message: Message | None = None) -> list[Addressee]:
    """Who the message goes to: the envelope's recipients (with the display names the
    headers give them) or, without an envelope, the To, Cc and Bcc headers; the
    Reply-To always counts, since replies would go there.  ``message``: the parsed
    message, when the caller has it."""
    named = _header_addresses(parse_message(envelope.raw) if message is None else message)
    out: list[Addressee] = []
    if envelope.explicit_rcpts:
        names = {canonical_email(a.address): a.display_name for a in named}
        out = [
            Addressee(r, "envelope", names.get(canonical_email(r), "")) for r in envelope.rcpt_tos
        ]
    else:
        out = [a for a in named if a.location != "header:reply-to"]
    out += [a for a in named if a.location == "header:reply-to"]
    return out


def _header_addresses(message: Message) -> list[Addressee]:
    """The addresses of the message's To, Cc, Bcc and Reply-To fields (in that order),
    with their decoded display names."""
    fields: dict[str, list[str]] = {name: [] for name in (*RECIPIENT_HEADERS, "reply-to")}
    for name, value in message.raw_items():
        values = fields.get(name.lower())
        if values is not None:
            values.append(unfold(str(value)))
    out: list[Addressee] = []
    for name, values in fields.items():
        for value in values:
            for display, address in _pairs(value):
                if "@" in address:
                    out.append(Addressee(_utf8(address), f"header:{name}", decode_words(display)))
    return out


def _pairs(value: str) -> list[tuple[str, str]]:
    """Every address the full RFC 5322 parser reads (``a@b <c@d>`` gives both, where
    the fast reader of segments gives one), or none if it fails on hostile syntax."""
    try:
        return getaddresses([value])
    except Exception:
        return []


def _utf8(address: str) -> str:
    """An address with 8-bit bytes (RFC 6532) read as UTF-8."""
    if address.isascii():
        return address
    return address.encode("ascii", "surrogateescape").decode("utf-8", "replace")
