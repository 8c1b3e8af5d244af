"""The register version in force and the running gateway's heartbeat, in ``meta``.

``gateway serve`` records a version as in force only once every scan worker scans
with it, and refreshes a heartbeat while it runs (removed when it stops), so another
process (``gateway register import --wait``, the console) can tell what the running
gateway scans with, or that no gateway is running.  Both are name/value rows of
``meta`` holding JSON: versions, times, a process id and the register's source name,
never a protected value.

Several nodes on one PostgreSQL store each keep their own pair too, named after the
node (``NAME@host:pid``): ``nodes()`` lists the live ones, so ``--wait`` returns only
when every running node scans with the new version.  A node that died leaves its pair
behind, stale, until a beat of another node clears it a day later.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from gateway.store.base import Connection, guard

IN_FORCE = "register_in_force"
HEARTBEAT = "serve_heartbeat"
#: a dead node's records are removed this long after its last beat
FORGET_NODE_S = 86_400.0
#: a heartbeat older than this many beat intervals (and at least STALE_MIN_S) is stale
STALE_BEATS = 5
STALE_MIN_S = 15.0
_HOST = socket.gethostname()


def _node() -> str:
    """This process as a node: ``host:pid``."""
    return f"{_HOST}:{os.getpid()}"


@dataclass(frozen=True)
class InForce:
    """The register version every scan worker of the gateway scans with, since when,
    and where that version came from (the file or upload it was imported from)."""

    version: int
    since: dt.datetime
    source: str


@dataclass(frozen=True)
class Heartbeat:
    """The last sign of life of a running ``gateway serve``."""

    at: float  # time.time() of the beat
    every: float  # seconds between beats
    pid: int
    host: str

    def alive(self, now: float | None = None) -> bool:
        """True while the beat is fresh: younger than a few intervals."""
        age = (time.time() if now is None else now) - self.at
        return age < max(STALE_BEATS * self.every, STALE_MIN_S)


@dataclass(frozen=True)
class Node:
    """A running gateway node: its last beat and the version it scans with (None
    while it starts)."""

    beat: Heartbeat
    in_force: InForce | None


def _in_force(data: dict[str, Any]) -> InForce:
    since = dt.datetime.fromisoformat(str(data["since"]))
    return InForce(int(data["version"]), since, str(data["source"]))


def _heartbeat(data: dict[str, Any]) -> Heartbeat:
    return Heartbeat(float(data["at"]), float(data["every"]), int(data["pid"]), str(data["host"]))


class InForceRecords(Connection):
    """Record and read the version in force and the serving gateway's heartbeat."""

    async def record_in_force(self, version: int, source: str) -> None:
        """Record ``version`` (from ``source``) as the one every scan worker scans with."""
        since = dt.datetime.now(dt.UTC).isoformat()
        value = json.dumps({"version": version, "since": since, "source": source})
        await self._put(IN_FORCE, value, "record the register version in force")
        await self._put(f"{IN_FORCE}@{_node()}", value, "record the register version in force")

    async def in_force(self) -> InForce | None:
        """The version the gateway last put in force; ``None`` if it never did."""
        data = await self._get(IN_FORCE, "read the register version in force")
        return None if data is None else _in_force(data)

    async def beat(self, every: float) -> None:
        """Say the gateway is running and beats every ``every`` seconds."""
        at = time.time()
        value = {"at": at, "every": every, "pid": os.getpid(), "host": _HOST}
        await self._put(HEARTBEAT, json.dumps(value), "record the heartbeat")
        await self._put(f"{HEARTBEAT}@{_node()}", json.dumps(value), "record the heartbeat")
        await self._forget_dead_nodes(at - FORGET_NODE_S)

    async def heartbeat(self) -> Heartbeat | None:
        """The running gateway's last heartbeat; ``None`` if none runs (or ran)."""
        data = await self._get(HEARTBEAT, "read the heartbeat")
        return None if data is None else _heartbeat(data)

    async def nodes(self) -> list[Node]:
        """The nodes whose heartbeat is alive, with the version each scans with."""
        with guard("read the nodes"):
            rows = await self._all(
                "SELECT name, value FROM meta WHERE name LIKE ? OR name LIKE ?",
                (f"{HEARTBEAT}@%", f"{IN_FORCE}@%"),
            )
        values = {str(name): json.loads(value) for name, value in rows}
        out = []
        for name, data in sorted(values.items()):
            kind, _, node = name.partition("@")
            if kind == HEARTBEAT and (beat := _heartbeat(data)).alive():
                forced = values.get(f"{IN_FORCE}@{node}")
                out.append(Node(beat, None if forced is None else _in_force(forced)))
        return out

    async def _forget_dead_nodes(self, before: float) -> None:
        with guard("read the nodes"):
            rows = await self._all(
                "SELECT name, value FROM meta WHERE name LIKE ?", (f"{HEARTBEAT}@%",)
            )
        for name, value in rows:
            if float(json.loads(value)["at"]) < before:
                await self._drop_node(str(name).partition("@")[2])

    async def _drop_node(self, node: str) -> None:
        with guard("remove the heartbeat"):
            async with self._writing:
                await self._changed(
                    "DELETE FROM meta WHERE name IN (?, ?)",
                    (f"{HEARTBEAT}@{node}", f"{IN_FORCE}@{node}"),
                )

    async def end_heartbeat(self) -> None:
        """Say this gateway stopped (another one's beat is left alone)."""
        await self._drop_node(_node())
        with guard("remove the heartbeat"):
            row = await self._one("SELECT value FROM meta WHERE name = ?", (HEARTBEAT,))
            if row is None:
                return
            beat = json.loads(row[0])
            if beat.get("pid") != os.getpid() or beat.get("host") != _HOST:
                return
            async with self._writing:  # compare and delete: a newer beat stays
                await self._changed(
                    "DELETE FROM meta WHERE name = ? AND value = ?", (HEARTBEAT, row[0])
                )

    async def register_origin(self, version: int) -> str:
        """Where register ``version`` came from (its source); '' if there is none."""
        with guard("read the register"):
            row = await self._one(
                "SELECT source FROM register_versions WHERE version = ?", (version,)
            )
        return "" if row is None else str(row[0])

    async def _put(self, name: str, value: str, what: str) -> None:
        with guard(what):
            async with self._writing:
                await self._changed(
                    "INSERT INTO meta VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )

    async def _get(self, name: str, what: str) -> dict[str, Any] | None:
        with guard(what):
            row = await self._one("SELECT value FROM meta WHERE name = ?", (name,))
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return data
