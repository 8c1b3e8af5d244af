"""match stage: segments and recipients -> findings (and evidence kept apart).

index.build_index(register)            once per register version
recipients.classify(...)               who the message goes to
content.probes(...) -> Index.lookup    anchors in the text, one batched look-up
verify.Verifier(...)                   hits confirmed against the case records

Matching shares the scan's deadline with extraction: probes, look-ups and checks
run a chunk at a time with a time check in between, and stop with ``OverBudget``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.budget import NEVER, Deadline
from gateway.findings import Evidence, Match, failed_redactions
from gateway.match import content, ocr
from gateway.match.index import Index, build_index
from gateway.match.recipients import Addressee, classify
from gateway.match.verify import WEAK, WEAK_LIMIT, Collector, Verifier
from gateway.register import normalise
from gateway.segments import Segment

__all__ = ["Addressee", "Index", "build_index", "match"]

#: probes looked up, or checked, between two time checks: a few ms of work at most
CHUNK = 8192


def match(
    index: Index,
    segments: Sequence[Segment],
    addressees: Sequence[Addressee],
    internal_domains: Sequence[str] = (),
    deadline: Deadline = NEVER,
) -> Match:
    """Findings for one message; pure and free of I/O.  Raises ``OverBudget`` once
    ``deadline`` has passed."""
    recipients, recipient_findings, focus = classify(index, addressees, internal_domains)
    texts = []
    for segment in segments:
        deadline.check()
        texts.append(normalise.fold(segment.text))
    # OCR segments are also matched as OCR's confusions read them (``ocr``).
    read = ocr.readings(index, segments, texts, deadline)
    probes = content.probes(index, read.texts, deadline)
    probes += read.probes
    postings: list[list[int]] = []
    for start in range(0, len(probes), CHUNK):
        deadline.check()
        keys = [p.key for p in probes[start : start + CHUNK]]
        postings += index.lookup(keys, WEAK_LIMIT, WEAK, focus)
    verifier = Verifier(index, read.segments, read.texts, focus, read.origin)
    collected = _verify(verifier, probes, postings, deadline)
    read.restore(collected)
    findings, evidence = collected.findings(segments, first_index=len(recipient_findings))
    # After the others, so that the evidence numbers above stay those of the list.
    findings += failed_redactions(findings)
    # A recipient finding's evidence is the address itself, so reviewers see which one.
    addressed = [
        Evidence(number, f.location, 0, len(f.recipient), f.recipient)
        for number, f in enumerate(recipient_findings)
        if f.recipient
    ]
    return Match(
        tuple(recipient_findings + findings), tuple(recipients), tuple(addressed + evidence)
    )


def _verify(
    verifier: Verifier,
    probes: Sequence[content.Probe],
    postings: Sequence[list[int]],
    deadline: Deadline,
) -> Collector:
    """``Verifier.run`` a chunk at a time.  It checks postcodes after every other
    kind, and dates last, so the chunks go in that order too (each kind in probe
    order): the result is that of one run over everything."""
    hit = [number for number, found in enumerate(postings) if found]
    if len(hit) <= CHUNK:  # the common case: one run, no reordering needed
        return verifier.run([probes[n] for n in hit], [postings[n] for n in hit])
    last = {"postcode": 1, "dob": 2}
    ordered = sorted(hit, key=lambda n: last.get(probes[n].what, 0))
    for start in range(0, len(ordered), CHUNK):
        deadline.check()
        chunk = ordered[start : start + CHUNK]
        verifier.run([probes[n] for n in chunk], [postings[n] for n in chunk])
    return verifier.out
