"""match stage: segments and recipients -> findings (and evidence kept apart).

index.build_index(register)            once per register version
recipients.classify(...)               who the message goes to
content.probes(...) -> Index.lookup    anchors in the text, one batched look-up
verify.Verifier(...)                   hits confirmed against the case records
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.findings import Evidence, Match
from gateway.match import content
from gateway.match.index import Index, build_index
from gateway.match.recipients import Addressee, classify
from gateway.match.verify import WEAK, WEAK_LIMIT, Verifier
from gateway.register import normalise
from gateway.segments import Segment

__all__ = ["Addressee", "Index", "build_index", "match"]


def match(
    index: Index,
    segments: Sequence[Segment],
    addressees: Sequence[Addressee],
    internal_domains: Sequence[str] = (),
) -> Match:
    """Findings for one message; pure and free of I/O."""
    recipients, recipient_findings, focus = classify(index, addressees, internal_domains)
    texts = [normalise.fold(s.text) for s in segments]
    probes = content.probes(index, texts)
    postings = index.lookup([p.key for p in probes], WEAK_LIMIT, WEAK, focus)
    collected = Verifier(index, segments, texts, focus).run(probes, postings)
    findings, evidence = collected.findings(segments, first_index=len(recipient_findings))
    # A recipient finding's evidence is the address itself, so reviewers see which one.
    addressed = [
        Evidence(number, f.location, 0, len(f.recipient), f.recipient)
        for number, f in enumerate(recipient_findings)
        if f.recipient
    ]
    return Match(
        tuple(recipient_findings + findings), tuple(recipients), tuple(addressed + evidence)
    )
