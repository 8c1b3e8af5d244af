"""The values the store takes and gives back: held messages, their summaries, errors."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway.errors import GatewayError

Status = Literal["held", "releasing", "released", "rejected"]
STATUSES: tuple[Status, ...] = ("held", "releasing", "released", "rejected")


@dataclass(frozen=True)
class AuditEvent:
    """An audit record as it is announced once committed (to syslog): never its reason,
    which may quote protected details, only whether it has one."""

    seq: int
    at: str  # ISO 8601, UTC
    actor: str
    action: str
    target: str
    has_reason: bool


class StoreError(GatewayError):
    """The store could not read or write (disk full, read-only, corrupt): answer 4xx."""


class _IdClock:
    """Millisecond time plus 56 random bits, kept increasing within the process (as ULID
    does): an id made later in this process always sorts after one made earlier."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (0, 0)

    def next(self, now: float | None) -> tuple[int, int]:
        millis = int((time.time() if now is None else now) * 1000)
        with self._lock:
            last_millis, last_random = self._last
            if millis <= last_millis and last_random < _RANDOM_MAX:
                millis, rand = last_millis, last_random + 1
            else:
                rand = int.from_bytes(os.urandom(7), "big") >> 1  # room to count up
            self._last = (millis, rand)
        return millis, rand


_RANDOM_MAX = (1 << 56) - 1
_CLOCK = _IdClock()


def new_message_id(now: float | None = None) -> str:
    """``Q`` + 12 hex digits of Unix milliseconds + 14 hex digits: sorts by time."""
    millis, rand = _CLOCK.next(now)
    return f"Q{millis:012x}{rand:014x}"


@dataclass(frozen=True)
class HeldMessage:
    """A quarantined message with its envelope, verdict, findings and evidence.

    ``findings`` (kind, case, location, confidence, score) hold no protected value and
    are stored in clear for listing; ``raw``, the envelope and ``evidence`` are sealed.
    """

    id: str
    received_at: dt.datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    action: str
    severity: str
    rules: tuple[str, ...]
    findings: Sequence[Mapping[str, Any]] = ()
    evidence: Sequence[Mapping[str, Any]] = ()
    status: Status = "held"
    false_positive: bool = False
    attempts: int = 0  # deliveries of a release tried so far
    mta_queue_id: str = ""  # the MTA's queue id, for a message held through the milter
    subject: str = ""  # the decoded Subject (sealed; '' for holds made before issue 15)


@dataclass(frozen=True)
class HeldSummary:
    """What a listing shows of a held message: no message bytes, addresses or evidence."""

    id: str
    received_at: dt.datetime
    status: Status
    action: str
    severity: str
    rules: tuple[str, ...]
    findings: tuple[Mapping[str, Any], ...]
    size: int
    rcpt_count: int
    false_positive: bool = False
    claimed_by: str = ""  # the account that said "I'm on it", or ''
    claimed_at: str = ""

    @property
    def cases(self) -> tuple[str, ...]:
        """The register cases the findings point at, in first-seen order."""
        return tuple(dict.fromkeys(str(f["case"]) for f in self.findings if f.get("case")))

    @property
    def finding_kinds(self) -> tuple[str, ...]:
        """The distinct kinds of finding, in first-seen order."""
        return tuple(dict.fromkeys(str(f.get("kind", "")) for f in self.findings))


@dataclass(frozen=True)
class RegisterVersion:
    """One imported version of the register, as listed (the text itself stays sealed)."""

    version: int
    imported_at: dt.datetime
    source: str  # a file's path, an upload's name, or the version a rollback restored
    cases: int
    actor: str = ""  # who made it ('' for versions made before schema 3)
    action: str = "import"  # import, add, update, remove, rollback
    digest: str = ""  # SHA-256 (hex) of the version's text
    source_digest: str = ""  # SHA-256 (hex) of the source file's bytes, when a file


@dataclass(frozen=True)
class RekeyCounts:
    """How many sealed records ``Store.rekey`` rewrapped."""

    messages: int
    register_versions: int
    blobs: int


#: what the list sorts by -> the column (each has an index, with and without status)
SORTS: dict[str, str] = {
    "severity": "severity_rank",
    "received": "received_at",
    "sender": "sender_key",
    "recipients": "rcpts_key",
    "subject": "subject_key",
    "cases": "first_case",
    "rules": "first_rule",
    "status": "status",
    "claimed": "claimed_by",
}


@dataclass(frozen=True)
class ListQuery:
    """A search of the quarantine: every condition given must hold.  ``sender``,
    ``recipient`` and ``subject`` are matched through the blind index (store/blind.py):
    a whole address (canonical form), and every word of ``subject``.  ``claimed``:
    an account name, or '-' for messages no one has claimed.  ``after``/``before``:
    the keyset cursor (sort value, id) of the last row of the previous page / the first
    row of the next one."""

    status: Status | None = "held"
    sender: str = ""
    recipient: str = ""
    subject: str = ""
    case: str = ""
    rule: str = ""
    received_from: dt.datetime | None = None
    received_to: dt.datetime | None = None  # exclusive
    claimed: str = ""
    sort: str = "severity"
    descending: bool = False
    after: tuple[Any, str] | None = None
    before: tuple[Any, str] | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"cannot sort by {self.sort!r}")
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


@dataclass(frozen=True)
class ListedMessage:
    """A row of the list: the summary, and what is sealed, unsealed for this page only."""

    summary: HeldSummary
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    evidence: Sequence[Mapping[str, Any]]
    cursor: tuple[Any, str]  # (sort value, id): where the next page starts after it


@dataclass(frozen=True)
class ListPage:
    """One page of a search, and the cursors of the pages either side (None: none)."""

    rows: tuple[ListedMessage, ...]
    next: tuple[Any, str] | None
    previous: tuple[Any, str] | None
