"""match -> Finding: what the matcher found, without the protected value itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gateway.segments import REDACTION


class Kind(StrEnum):
    """The kinds of finding named by the scan contract (more may be added)."""

    RESTRICTED_RECIPIENT = "restricted_recipient"
    PROBABLE_RESTRICTED_RECIPIENT = "probable_restricted_recipient"
    ADDRESS = "address"
    POSTCODE = "postcode"
    STREET = "street"  # the protected street with its town or district, no number
    PHONE = "phone"
    EMAIL = "email"
    NAME = "name"
    DATE_OF_BIRTH = "date_of_birth"
    PROTECTED_LOCATION = "protected_location"
    UNSCANNABLE = "unscannable"
    #: a protected detail in text a redaction meant to hide (under a box, in the
    #: page's colour, clipped away): one per (case, location), see ``failed_redactions``
    FAILED_REDACTION = "failed_redaction"


class Confidence(StrEnum):
    """How sure the matcher is; ordered low < medium < high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One protected detail (or restricted recipient) found in a message.

    Never holds the protected value or the matched text: only its kind, the case it
    belongs to, where it was found, and how sure the matcher is.  ``recipient`` is set
    for recipient findings (the recipient address is not protected: it is who the
    message goes to).  ``reason`` is a fixed phrase for unscannable findings.
    ``hidden`` is the ``Segment.hidden`` of the text it was found in (``"redaction"``:
    a reader of the file would not see it, the sender meant it not to be there).
    """

    kind: Kind
    case: str | None
    location: str
    confidence: Confidence
    score: int
    recipient: str | None = None
    reason: str | None = None
    hidden: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind.value,
            "case": self.case,
            "location": self.location,
            "confidence": self.confidence.value,
            "score": self.score,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.hidden is not None:
            out["hidden"] = self.hidden
        return out


#: the kinds of protected detail whose presence under a redaction is a failed redaction
REDACTABLE = frozenset(
    {
        Kind.ADDRESS,
        Kind.POSTCODE,
        Kind.STREET,
        Kind.PHONE,
        Kind.EMAIL,
        Kind.NAME,
        Kind.DATE_OF_BIRTH,
        Kind.PROTECTED_LOCATION,
    }
)


def failed_redactions(findings: Sequence[Finding]) -> list[Finding]:
    """One ``failed_redaction`` per (case, location) where a protected detail was found
    in text a redaction meant to hide, with the best confidence and score among them.

    The findings under the redaction stay as they are (an address is still an address
    for every other rule); this one says, in addition, that the sender meant to hide it.
    """
    best: dict[tuple[str | None, str], Finding] = {}
    for f in findings:
        if f.hidden != REDACTION or f.kind not in REDACTABLE:
            continue
        old = best.get((f.case, f.location))
        if old is None or (f.confidence.rank, f.score) > (old.confidence.rank, old.score):
            best[(f.case, f.location)] = f
    return [
        Finding(Kind.FAILED_REDACTION, case, where, f.confidence, f.score, hidden=REDACTION)
        for (case, where), f in best.items()
    ]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a finding's text sits, for authorised reviewers only.

    Kept apart from findings so that nothing that logs or prints findings can leak it.
    """

    finding_index: int
    location: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Match:
    """The matcher's output for one message: findings, and evidence kept separately."""

    findings: tuple[Finding, ...]
    recipients: tuple[Recipient, ...] = ()
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient of a message, classified against the register and the settings.

    ``restricted_cases``: cases where this address is a restricted contact (exact
    canonical address).  ``probable_cases``: cases where it is probably one (display
    name, alias, or a near-identical address).  ``allowed_cases``: cases whose
    protected details this recipient may receive.  ``internal``: in an internal domain.
    """

    address: str
    internal: bool = False
    restricted_cases: frozenset[str] = frozenset()
    probable_cases: frozenset[str] = frozenset()
    allowed_cases: frozenset[str] = frozenset()

    @property
    def external(self) -> bool:
        return not self.internal
