"""Recipient addresses (and display names) -> classified ``Recipient``s and findings.

Exact canonical address of a restricted contact (after IDNA decoding, case folding,
plus-tag removal): restricted.  The restricted person's name or alias as the display
name, or a near-identical address (one edit away, or the same to the eye: lookalike
letters of any script in the mailbox or the domain): probably restricted.  Allowed recipients and
internal domains come from the register and the settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.findings import Confidence, Finding, Kind, Recipient
from gateway.match import keys as K
from gateway.match.content import within_one_edit
from gateway.match.index import Index, unpack
from gateway.match.keys import Code
from gateway.register import normalise as N
from gateway.register.confusables import read_as_ascii, skeleton


@dataclass(frozen=True, slots=True)
class Addressee:
    """One recipient as the message names it: address, display name, where found."""

    address: str
    location: str  # envelope, header:to, header:cc, header:bcc, header:reply-to
    display_name: str = ""


def classify(
    index: Index,
    addressees: Sequence[Addressee],
    internal_domains: Sequence[str],
) -> tuple[list[Recipient], list[Finding], set[int]]:
    """Recipients, their findings, and the record numbers they are restricted for."""
    merged: dict[str, list[Addressee]] = {}
    for item in addressees:
        merged.setdefault(N.canonical_email(item.address), []).append(item)
    canon = list(merged)
    recipients: list[Recipient] = []
    findings: list[Finding] = []
    focus: set[int] = set()
    exact = index.lookup([K.restricted_key(c) for c in canon])
    allowed = index.lookup([K.allowed_key(c) for c in canon])
    for address, hits, allows in zip(canon, exact, allowed, strict=True):
        items = merged[address]
        restricted = {unpack(v)[0] for v in hits}
        seen = N.canonical_email(read_as_ascii(items[0].address))
        probable = (_near(index, address, seen) | _by_name(index, items)) - restricted
        focus |= restricted | probable
        recipients.append(
            Recipient(
                address=items[0].address,
                internal=_internal(address, internal_domains),
                restricted_cases=frozenset(index.record(r)[1] for r in restricted),
                probable_cases=frozenset(index.record(r)[1] for r in probable),
                allowed_cases=frozenset(index.record(unpack(v)[0])[1] for v in allows),
            )
        )
        for kind, records, confidence, score in (
            (Kind.RESTRICTED_RECIPIENT, restricted, Confidence.HIGH, 100),
            (Kind.PROBABLE_RESTRICTED_RECIPIENT, probable, Confidence.MEDIUM, 85),
        ):
            findings += [
                Finding(
                    kind,
                    index.record(r)[1],
                    items[0].location,
                    confidence,
                    score,
                    recipient=items[0].address,
                )
                for r in sorted(records)
            ]
    return recipients, findings, focus


def _internal(address: str, domains: Sequence[str]) -> bool:
    domain = address.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in (x.lower() for x in domains))


def _by_name(index: Index, items: Sequence[Addressee]) -> set[int]:
    """Records whose restricted contact's name (or alias) is a display name here."""
    probes: list[int] = []
    for item in items:
        words = [w for w in N.tokens(item.display_name) if w not in N.TITLES]
        probes += [K.restricted_name_key(a, b) for a in words for b in words if a != b]
    return {unpack(v)[0] for hits in index.lookup(probes) for v in hits}


def _near(index: Index, address: str, seen: str) -> set[int]:
    """Records with a restricted address one edit away, or the same to the eye.

    ``seen`` is the canonical form of the address as a reader sees it (lookalikes read
    first, since folding reads some of them as other characters)."""
    local, _, domain = seen.rpartition("@")
    probes = [K.restricted_local_key(local), *K.probe_halves("R", (skeleton(domain),), local)]
    found: set[int] = set()
    for hits in index.lookup(probes):
        for value in hits:
            record_no, code, _person, detail = unpack(value)
            if code != Code.RESTRICTED_NEAR:
                continue
            known = index.record(record_no)[3][detail]
            if known != address and _lookalike(seen, known):
                found.add(record_no)
    return found


def _lookalike(address: str, known: str) -> bool:
    """Near-identical: one edit in the mailbox name at the same domain (or one that
    looks the same), or the same mailbox name to the eye at a lookalike domain.

    "To the eye" compares TR39-style skeletons (``confusables.skeleton``): Cyrillic,
    Greek or fullwidth letters, ``rn``/``m``, ``0``/``o``, ``l``/``1``/``i``, ``vv``/``w``,
    ``cl``/``d`` are one letter each."""
    local, _, domain = address.rpartition("@")
    known_local, _, known_domain = known.rpartition("@")
    same_domain = domain == known_domain or skeleton(domain) == skeleton(known_domain)
    if same_domain and within_one_edit(local, known_local):
        return True
    if skeleton(local.replace(".", "")) != skeleton(known_local.replace(".", "")):
        return False
    return (
        same_domain
        or domain.partition(".")[0] == known_domain.partition(".")[0]
        or within_one_edit(domain, known_domain)
    )
