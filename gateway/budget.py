"""One scan's time budget: a deadline that extraction and matching both check.

A scan (extract + match) gets one deadline from ``Limits.time_budget_s``; each stage
checks it cheaply (between parts, per segment, per chunk of probes or postings) and
stops with ``OverBudget``, which holds the message as ``unscannable``.  The check is
cooperative: work inside one long C call runs to its end, which is why scan processes
are also killed and replaced when they overrun (``gateway/workers.py``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

#: the fixed reason of a message (or part) whose scan ran out of time
OVER_TIME = "over time budget"


class OverBudget(Exception):
    """The whole message ran out of time or bytes; the scan stops."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment (``time.monotonic``) a scan's time budget ends."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def check(self) -> None:
        """Stop the scan (``OverBudget``) once the deadline has passed."""
        if time.monotonic() > self.at:
            raise OverBudget(OVER_TIME)


NEVER = Deadline(math.inf)
