"""receive: a message's header block -> its hop counts; a verdict -> the gateway's stamp.

Every message the gateway lets through carries one stamp header, added on top (the
SMTP proxy puts it just below its own Received line; the milter inserts it at index 0,
which Postfix puts above its Received line)::

    X-Safe-Address-Gateway: scanned by gateway.council.example; id=0123abcd...;
     Sat, 05 Dec 2026 14:00:00 +0000

(one line; ``released by`` for a message released from the quarantine).  It names the
gateway (``hostname``), the gateway's own message id and the time, nothing of the
message: a mail system that routes mail through the gateway and back (Exchange Online
with a transport rule and an inbound connector) knows the message has been through.

The stamp is never a pass: stamped mail is scanned like any other.  It is a loop
guard: a message that already carries ``max_stamps`` stamps naming this gateway has
been round more often than any legitimate route takes it, and is refused (``554
5.4.6``), as is one with ``hop_count_limit`` Received headers (Postfix's rule).
Stamps naming other hosts (another gateway of the same organisation) do not count.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Literal

import structlog

if TYPE_CHECKING:
    from gateway.settings import Settings

log = structlog.get_logger("gateway.stamp")
Verb = Literal["scanned", "released"]
# The host named by a stamp: "scanned by HOST;" or "released by HOST;", any case.
_NAMED = re.compile(rb"\s*(?:scanned|released)\s+by\s+([^\s;]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Hops:
    """What the header block says about the message's route so far."""

    stamps: int  # stamps naming this gateway
    received: int  # Received headers, by anyone


@dataclass(frozen=True, slots=True)
class Stamp:
    """The gateway's stamp header and the loop limits that read it back."""

    header: str = "X-Safe-Address-Gateway"
    hostname: str = "gateway.localdomain"
    max_stamps: int = 3
    hop_count_limit: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> Stamp:
        return cls(
            settings.stamp_header,
            settings.hostname,
            settings.max_stamps,
            settings.hop_count_limit,
        )

    def value(self, verb: Verb, message_id: str, now: datetime | None = None) -> str:
        """The header's value, one line, ASCII (the hostname and id are ASCII)."""
        when = format_datetime(now or datetime.now(UTC))
        return f"{verb} by {self.hostname}; id={message_id}; {when}"

    def line(self, verb: Verb, message_id: str, now: datetime | None = None) -> bytes:
        """The whole header line, CRLF-terminated, to put on top of a message."""
        text = f"{self.header}: {self.value(verb, message_id, now)}\r\n"
        return text.encode("ascii", "replace")

    def hops(self, raw: bytes) -> Hops:
        """Count this gateway's stamps and all Received headers in ``raw``'s header
        block (folded headers unfolded, names in any case)."""
        ours = self.header.lower().encode("ascii")
        host = self.hostname.lower().rstrip(".").encode("ascii", "replace")
        stamps = received = 0
        for name, value in _headers(raw):
            if name == b"received":
                received += 1
            elif name == ours:
                named = _NAMED.match(value)
                stamps += named is not None and named[1].lower().rstrip(b".") == host
        return Hops(stamps, received)

    def looped(self, hops: Hops) -> bool:
        """Round too often: refuse it rather than send it round once more."""
        return hops.stamps >= self.max_stamps or hops.received >= self.hop_count_limit


def loop_refused(stamp: Stamp | None, raw: bytes, **ids: str) -> bool:
    """Whether ``raw`` is refused as a routing loop (never with no stamp configured);
    logged with the counts and the given ids only."""
    if stamp is None:
        return False
    hops = stamp.hops(raw)
    if not stamp.looped(hops):
        return False
    log.warning("routing loop refused", stamps=hops.stamps, hops=hops.received, **ids)
    return True


def _headers(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-case name, unfolded value) of each header before the first empty line;
    lines that are neither a header nor a fold are skipped, as a mail reader would."""
    out: list[tuple[bytes, bytes]] = []
    for line in io.BytesIO(raw):
        text = line.rstrip(b"\r\n")
        if not text:
            break
        if text[:1] in b" \t":
            if out:
                out[-1] = (out[-1][0], out[-1][1] + b" " + text.strip())
            continue
        name, colon, value = text.partition(b":")
        if colon:
            out.append((name.rstrip(b" \t").lower(), value.strip()))
    return out
