"""review (console): the store's oversight figures -> two sentences for the list page:
how long the oldest held message has waited, and today's median time to decision."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from gateway.store import Store


@dataclass(frozen=True)
class OversightLines:
    """What the list page says about waiting and deciding."""

    oldest_held: str
    median_today: str


def duration_words(seconds: float) -> str:
    """A duration as a reviewer reads it: "45 s", "12 min", "3 h 12 min", "2 d 4 h"."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


async def oversight_lines(store: Store, now: dt.datetime | None = None) -> OversightLines:
    """The two sentences as of ``now`` (default: this moment); "today" is the UTC day."""
    now = now or dt.datetime.now(dt.UTC)
    oldest = await store.oldest_held()
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    times = await store.decision_seconds(today)
    return OversightLines(
        "none held" if oldest is None else duration_words((now - oldest).total_seconds()),
        "no decisions yet" if not times else duration_words(statistics.median(times)),
    )
