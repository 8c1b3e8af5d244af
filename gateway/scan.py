"""Envelope -> Verdict: the whole core (parse, extract, match, decide) on one message.

Pure and free of I/O, so the SMTP proxy, the milter and ``gateway scan`` all call
this one function, in a worker when CPU time matters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import PurePath

import structlog

from gateway.envelope import Envelope
from gateway.extract import Limits, extract
from gateway.findings import Confidence, Finding, Kind, Match
from gateway.match import Addressee, Index, match
from gateway.parse import header_block
from gateway.policy import Policy, decide
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


SCAN_FAILED = "scan failed"


def scan(envelope: Envelope, index: Index, policy: Policy, settings: ScanSettings) -> ScanResult:
    """Scan one message end to end.  Fails closed: if the core itself breaks, the
    message is unscannable as a whole, which the policy holds."""
    started = time.perf_counter()
    try:
        result = _findings(envelope, index, settings)
    except Exception as exc:
        log.error("scan failed", error=exc.__class__.__name__)
        return unscannable(policy, SCAN_FAILED, (time.perf_counter() - started) * 1000)
    verdict = decide(policy, result.findings, result.recipients)
    return ScanResult(verdict, result, (time.perf_counter() - started) * 1000)


def unscannable(policy: Policy, reason: str, elapsed_ms: float) -> ScanResult:
    """The result for a message that could not be scanned as a whole: the policy holds it."""
    failed = Finding(Kind.UNSCANNABLE, None, "message", Confidence.HIGH, 100, reason=reason)
    return ScanResult(decide(policy, (failed,), ()), Match((failed,)), elapsed_ms)


def _findings(envelope: Envelope, index: Index, settings: ScanSettings) -> Match:
    extraction = guard_attachment_names(index, extract(envelope.raw, settings.limits))
    found = match(index, extraction.segments, addressees(envelope), settings.internal_domains)
    unscannable = tuple(
        Finding(Kind.UNSCANNABLE, None, u.location, Confidence.HIGH, 100, reason=u.reason)
        for u in extraction.unreadable
    )
    return Match(found.findings + unscannable, found.recipients, found.evidence)


def guard_attachment_names(index: Index, extraction: Extraction) -> Extraction:
    """Attachment names are text too: one that carries a protected detail is matched
    as a segment of its own, and replaced in every location by a neutral name (keeping
    its extension), since locations appear in findings, logs and the console."""
    names = {
        part
        for loc in _locations(extraction)
        if loc.startswith(_ATTACHMENT)
        for part in loc[len(_ATTACHMENT) :].split("/")
    }
    risky = sorted(n for n in names if match(index, [Segment("name", n)], ()).findings)
    if not risky:
        return extraction
    renamed = {name: f"[name-{i}]{_extension(name)}" for i, name in enumerate(risky, start=1)}

    def relocate(loc: str) -> str:
        if not loc.startswith(_ATTACHMENT):
            return loc
        return _ATTACHMENT + "/".join(renamed.get(p, p) for p in loc[len(_ATTACHMENT) :].split("/"))

    named = {
        relocate(loc.split(name)[0] + name): name
        for loc in _locations(extraction)
        for name in risky
        if name in loc
    }
    return Extraction(
        tuple(Segment(relocate(s.location), s.text) for s in extraction.segments)
        + tuple(Segment(loc, name) for loc, name in sorted(named.items())),
        tuple(Unreadable(relocate(u.location), u.reason) for u in extraction.unreadable),
        extraction.defects,
    )


_ATTACHMENT = "attachment:"


def _locations(extraction: Extraction) -> list[str]:
    return [s.location for s in extraction.segments] + [u.location for u in extraction.unreadable]


def _extension(name: str) -> str:
    suffix = PurePath(name).suffix
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


def addressees(envelope: Envelope) -> list[Addressee]:
    """Who the message goes to: the envelope's recipients (with the display names the
    headers give them) or, without an envelope, the To, Cc and Bcc headers; the
    Reply-To always counts, since replies would go there."""
    named = _header_addresses(envelope.raw)
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


def _header_addresses(raw: bytes) -> list[Addressee]:
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    except Exception:
        return []
    out: list[Addressee] = []
    for name in (*RECIPIENT_HEADERS, "reply-to"):
        values = [str(v) for v in headers.get_all(name, [])]
        for display, address in getaddresses(values):
            if "@" in address:
                out.append(Addressee(address, f"header:{name}", _decode(display)))
    return out


def _decode(text: str) -> str:
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:
        return text
