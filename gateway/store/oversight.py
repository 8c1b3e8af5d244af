"""store: the messages table -> what oversight needs: the oldest held message's arrival
and how long today's decisions took (the metrics and the console's list page)."""

from __future__ import annotations

import datetime as dt

from gateway.store.base import Connection, guard

MAX_DECISIONS = 100_000  # today's decisions read for the median, at most


class Oversight(Connection):
    """Reads over ``messages`` for the oversight figures (SQLite and PostgreSQL alike)."""

    async def oldest_held(self) -> dt.datetime | None:
        """When the message waiting longest arrived; None if none is held."""
        with guard("read"):
            row = await self._one(
                "SELECT received_at FROM messages WHERE status = 'held'"
                " ORDER BY received_at LIMIT 1"
            )
        return None if row is None else dt.datetime.fromisoformat(row[0])

    async def decision_seconds(self, since: dt.datetime) -> list[float]:
        """Seconds from arrival to decision (released or rejected) of the messages
        decided since ``since``, in no order."""
        with guard("read"):
            rows = await self._all(
                "SELECT received_at, status_at FROM messages"
                " WHERE status IN ('released', 'rejected') AND status_at >= ? LIMIT ?",
                (since.astimezone(dt.UTC).isoformat(), MAX_DECISIONS),
            )
        return [
            (dt.datetime.fromisoformat(r[1]) - dt.datetime.fromisoformat(r[0])).total_seconds()
            for r in rows
        ]
