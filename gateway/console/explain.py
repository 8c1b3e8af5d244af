"""review (console): findings and the rules that fired -> the sentences a reviewer reads.

"The recipient mark.whitmore@example.com is a restricted contact of case DA-2025-0142",
"The body contains the protected address of case DA-2025-0142": one sentence per
finding from its kind, case, place and confidence, and each rule that held the message
in its policy's own words.  Sentences carry kinds, case ids, places and the recipient's
address (who the message goes to is not protected), never matched text.  The code
names (``restricted_recipient``, the rule id) stay beside them, in small print, for
the security team.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.findings import Kind
from gateway.policy import Policy
from gateway.segments import REDACTION

#: what the text holds, for each kind of detail; ``{case}`` is the case id
DETAILS = {
    Kind.ADDRESS.value: "the protected address of case {case}",
    Kind.POSTCODE.value: "the postcode of a protected address of case {case}",
    Kind.STREET.value: "the street and town of a protected address of case {case}",
    Kind.PHONE.value: "a protected phone number of case {case}",
    Kind.EMAIL.value: "a protected email address of case {case}",
    Kind.NAME.value: "the name of a protected person of case {case}",
    Kind.DATE_OF_BIRTH.value: "the date of birth of a protected person of case {case}",
    Kind.PROTECTED_LOCATION.value: "the address of the protected location {case}",
}
CONFIDENCE_WORDS = {"medium": " (a close, not exact, match)", "low": " (a weak match)"}
_FRAGMENTS = {"#metadata": "the properties of ", "#page=": "page {} of "}


@dataclass(frozen=True)
class Reason:
    """One finding in words; ``number`` is its place in the findings (evidence names it),
    ``code`` its kind's code name."""

    number: int
    sentence: str
    code: str
    confidence: str = ""
    score: object = None


@dataclass(frozen=True)
class RuleReason:
    """A rule that held the message: its id and its policy description ("" if the
    policy in force no longer has it)."""

    id: str
    description: str


def reasons(
    findings: Sequence[Mapping[str, Any]], recipients: Mapping[int, str] | None = None
) -> tuple[Reason, ...]:
    """A sentence per finding; ``recipients``: finding number -> the recipient address
    a recipient finding is about (from its evidence)."""
    named = recipients or {}
    return tuple(
        Reason(
            number,
            sentence(f, named.get(number, "")),
            str(f.get("kind")),
            str(f.get("confidence", "")),
            f.get("score"),
        )
        for number, f in enumerate(findings)
    )


def sentence(finding: Mapping[str, Any], recipient: str = "") -> str:
    """What ``finding`` means, in one sentence."""
    kind, case = str(finding.get("kind")), finding.get("case") or "unknown"
    where = place(str(finding.get("location", "")))
    sure = CONFIDENCE_WORDS.get(str(finding.get("confidence")), "")
    who = f"The recipient {recipient}" if recipient else "A recipient"
    if kind == Kind.RESTRICTED_RECIPIENT.value:
        return f"{who} is a restricted contact of case {case}."
    if kind == Kind.PROBABLE_RESTRICTED_RECIPIENT.value:
        return (
            f"{who} is probably a restricted contact of case {case}: the same name or "
            "alias, or a near-identical address."
        )
    if kind == Kind.UNSCANNABLE.value:
        why = f" ({finding['reason']})" if finding.get("reason") else ""
        return f"{_first(where)} could not be read{why}, so what it carries is unknown."
    if kind == Kind.FAILED_REDACTION.value:
        return (
            f"{_first(where)} has a redaction that hides nothing: a protected detail of "
            f"case {case} is still in the file{sure}."
        )
    detail = DETAILS.get(kind)
    if detail is None:  # a kind newer than these words
        return f"{_first(where)} has a finding of kind {kind} for case {case}{sure}."
    hidden = " in text a redaction meant to hide" if finding.get("hidden") == REDACTION else ""
    return f"{_first(where)} contains {detail.format(case=case)}{hidden}{sure}."


def place(location: str) -> str:
    """Where in the message a location is, in words (``the body``, ``the attachment
    letter.pdf``, ``page 2 of the attachment scan.tif``)."""
    if location.startswith("attachment:"):
        path, front = location[len("attachment:") :], ""
        for marker, words in _FRAGMENTS.items():
            if marker in path:
                path, _, rest = path.partition(marker)
                front = words.format(rest)
        return f"{front}the attachment {path}"
    if location.startswith("header:"):
        name = location[len("header:") :]
        if name == "other":
            return "another header"
        if name == "malformed":
            return "a malformed header"
        return f"the {'-'.join(w.capitalize() for w in name.split('-'))} header"
    return {"message": "the message as a whole", "": "the message"}.get(location, f"the {location}")


def rule_reasons(policy: Policy | None, rule_ids: Sequence[str]) -> tuple[RuleReason, ...]:
    """Each rule that held the message, with its description from ``policy``."""
    out = []
    for rule_id in rule_ids:
        rule = policy.rule(rule_id) if policy is not None else None
        out.append(RuleReason(rule_id, " ".join(rule.description.split()) if rule else ""))
    return tuple(out)


def _first(text: str) -> str:
    return text[:1].upper() + text[1:]
