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
