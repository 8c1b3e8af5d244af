"""review: actions -> an append-only audit chain in the store, and its verification.

Each record carries the MAC of the one before it, and its own MAC over its fields and
that link: HMAC-SHA256 under an audit key that is kept sealed by the master key, so
someone who can write the database but has not the key file cannot forge a record.
The newest sequence number and MAC are kept apart in ``meta`` with a MAC of their own
(the head), so a record removed from the end is noticed too: the head of the record
before cannot be made without the key.  Triggers refuse UPDATE and DELETE on the table; ``verify``
finds what was done around them.  What the chain cannot show is the whole database put
back to an earlier copy: keep the audit exported (``gateway audit list``) off the host
for that.

The chain starts with a genesis record (seq 0, MAC'd like any other), written with the
audit key when the store is created, so an empty chain, or one without its genesis,
fails ``verify``: an audit log emptied together with its head no longer reads as
"intact: 0 records".  A store made before genesis records gets one once, when it is
first opened by this version (``ensure_genesis``), appended after its records.  The
gateway writes a genesis only while ``meta`` lacks the ``audit_genesis`` mark, and an
attacker can delete the mark with the rows: so with no mark and an empty chain, a
store that already holds accounts, register versions or messages (which its old code
audited) gets a genesis that says so and never verifies.  The audit key is made only
there too: a key removed from ``meta`` is reported, not replaced.  Only a store with
nothing in it (a new file) starts a clean chain.

Reasons are free text a reviewer typed, and may quote what the message held: they are
sealed like message bodies (AES-GCM under the master key, the record's sequence number
bound), and the MAC covers the reason as written, so a rekey leaves the chain intact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.crypto import KeyRing, SealError
from gateway.review.model import AuditRecord, ChainReport
from gateway.store import Store, StoreError
from gateway.store.model import AuditEvent

GENESIS = "0" * 64  # the link before the first record
GENESIS_ACTION = "genesis"
NEW_STORE, UPGRADE, EMPTIED = "store", "upgrade", "upgrade-of-an-emptied-log"
_KEY_RECORD = "audit-key"
_KEY_MISSING = "the audit key is missing from the store"
EMPTIED_PROBLEM = (
    "the audit log was empty when this store was first opened by a version with genesis "
    "records, though the store held accounts or data: it had been emptied"
)


async def audit_key(store: Store) -> bytes:
    """The audit MAC key; ``StoreError`` if it is missing (it is made only with the
    genesis: a key deleted from the database is not silently replaced)."""
    key = await _key(store)
    if key is None:
        raise StoreError(f"store: cannot write the audit log: {_KEY_MISSING}")
    return key


async def _key(store: Store) -> bytes | None:
    row = await store.fetch_one("SELECT value FROM meta WHERE name = 'audit_key'")
    return None if row is None else store.keys.open(_KEY_RECORD, bytes.fromhex(row[0]))


def _mac(
    key: bytes, seq: int, at: str, actor: str, action: str, target: str, reason: str, prev: str
) -> str:
    body = json.dumps([seq, at, actor, action, target, reason, prev], ensure_ascii=False)
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _head(key: bytes, seq: int, mac: str) -> str:
    tag = hmac.new(key, f"audit-head:{seq}:{mac}".encode(), hashlib.sha256).hexdigest()
    return f"{seq}:{mac}:{tag}"


async def record(store: Store, actor: str, action: str, target: str = "", reason: str = "") -> int:
    """Append one record; its sequence number.  Durable when this returns."""
    key = await audit_key(store)
    async with store.transaction() as write:
        await store.serialise("audit")  # one chain, whichever node appends
        seq, at = await _append(store, write, key, actor, action, target, reason)
    if store.audit_sink is not None:
        store.audit_sink(AuditEvent(seq, at, actor, action, target, bool(reason)))
    return seq


async def _append(
    store: Store,
    write: Callable[..., Awaitable[int]],
    key: bytes,
    actor: str,
    action: str,
    target: str,
    reason: str,
    first: int = 1,
) -> tuple[int, str]:
    """Inside a write transaction: the next record (``first`` if the chain is empty),
    linked to the last, and the head moved to it; its sequence number and time."""
    at = dt.datetime.now(dt.UTC).isoformat()
    head = await store.fetch_one("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1")
    seq, prev = (first, GENESIS) if head is None else (int(head[0]) + 1, str(head[1]))
    mac = _mac(key, seq, at, actor, action, target, reason, prev)
    sealed = store.keys.seal(reason_id(seq), reason.encode()).hex() if reason else ""
    await write(
        "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, target, sealed, prev, mac),
    )
    await write(
        "INSERT INTO meta VALUES ('audit_head', ?)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (_head(key, seq, mac),),
    )
    return seq, at


async def ensure_genesis(store: Store, new: bool) -> None:
    """Once per store: the audit key and the genesis record, unless ``meta`` says they
    were written.  ``new``: the database file was created by this open."""
    if await store.fetch_one("SELECT 1 FROM meta WHERE name = 'audit_genesis'"):
        return
    async with store.transaction() as write:
        await store.serialise("audit")
        if await store.fetch_one("SELECT 1 FROM meta WHERE name = 'audit_genesis'"):
            return  # another process opening the store at the same moment wrote it
        key = await _key(store)
        if key is None:
            sealed = store.keys.seal(_KEY_RECORD, secrets.token_bytes(32))
            await write("INSERT INTO meta VALUES ('audit_key', ?)", (sealed.hex(),))
            key = store.keys.open(_KEY_RECORD, sealed)
        kind = await _genesis_kind(store, new)
        seq, _ = await _append(store, write, key, "system", GENESIS_ACTION, kind, "", first=0)
        await write("INSERT INTO meta VALUES ('audit_genesis', ?)", (str(seq),))


async def _genesis_kind(store: Store, new: bool) -> str:
    """Which genesis a store gets: a new one's, an upgrade's (after its records), or,
    for an empty chain in a store that was used, the one that never verifies."""
    if await store.fetch_one("SELECT 1 FROM audit LIMIT 1"):
        return UPGRADE
    if new:
        return NEW_STORE
    used = await store.fetch_one(
        "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM register_versions)"
        " + (SELECT count(*) FROM messages) + (SELECT count(*) FROM approvals)"
    )
    return EMPTIED if used is not None and int(used[0]) > 0 else NEW_STORE


async def records(
    store: Store,
    *,
    target: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 1000,
) -> list[AuditRecord]:
    """The newest ``limit`` records (optionally for one target or since a moment), oldest first."""
    after = None if since is None else since.astimezone(dt.UTC).isoformat()
    rows = await store.fetch_all(
        "SELECT seq, at, actor, action, target, reason FROM audit"
        " WHERE seq > 0 AND target = coalesce(?, target) AND at >= coalesce(?, at)"
        " ORDER BY seq DESC LIMIT ?",
        (target, after, limit),
    )
    return [
        AuditRecord(
            int(r[0]), dt.datetime.fromisoformat(r[1]), r[2], r[3], r[4], _reason(store.keys, r)
        )
        for r in reversed(rows)
    ]


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page and its CSV export show: each field empty for "any".
    ``since`` and ``until`` are whole days (UTC), both included."""

    actor: str = ""
    action: str = ""
    target: str = ""
    since: dt.date | None = None
    until: dt.date | None = None

    def where(self) -> tuple[str, tuple[object, ...]]:
        """The SQL condition (placeholders ``?``) and its parameters."""
        # at is ISO 8601 in UTC ("2026-12-06T15:42:08...+00:00"): as text it sorts by time.
        since = None if self.since is None else self.since.isoformat()
        until = None if self.until is None else (self.until + dt.timedelta(days=1)).isoformat()
        return (
            "seq > 0 AND actor = coalesce(?, actor) AND action = coalesce(?, action)"
            " AND target = coalesce(?, target) AND at >= coalesce(?, at)"
            " AND at < coalesce(?, at || 'z')",
            (self.actor or None, self.action or None, self.target or None, since, until),
        )


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first, and whether there is more either side."""

    records: list[AuditRecord]
    older: int | None  # the ``before`` of the next older page, if any
    newer: int | None  # the ``after`` of the next newer page, if any


async def page(
    store: Store,
    where: AuditFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = 200,
) -> AuditPage:
    """The records matching ``where``, ``size`` at a time by sequence number (keyset):
    the newest, or those just older than ``before``, or just newer than ``after``."""
    condition, params = where.where()
    if after is not None:
        rows = await store.fetch_all(
            f"SELECT seq, at, actor, action, target, reason FROM audit WHERE {condition}"  # noqa: S608 - fixed text
            " AND seq > ? ORDER BY seq ASC LIMIT ?",
            (*params, after, size + 1),
        )
        more, rows = len(rows) > size, list(reversed(rows[:size]))
        newer = int(rows[0][0]) if more and rows else None
        older = int(rows[-1][0]) if rows else None
        older = older if older is not None and await _any_before(store, where, older) else None
    else:
        rows = await store.fetch_all(
            f"SELECT seq, at, actor, action, target, reason FROM audit WHERE {condition}"  # noqa: S608 - fixed text
            " AND seq < coalesce(?, seq + 1) ORDER BY seq DESC LIMIT ?",
            (*params, before, size + 1),
        )
        more, rows = len(rows) > size, rows[:size]
        older = int(rows[-1][0]) if more and rows else None
        newer = int(rows[0][0]) if before is not None and rows else None
    return AuditPage([_row(store.keys, r) for r in rows], older, newer)


async def _any_before(store: Store, where: AuditFilter, seq: int) -> bool:
    condition, params = where.where()
    row = await store.fetch_one(
        f"SELECT 1 FROM audit WHERE {condition} AND seq < ? LIMIT 1",  # noqa: S608 - fixed text
        (*params, seq),
    )
    return row is not None


async def matching(store: Store, where: AuditFilter) -> list[AuditRecord]:
    """Every record matching ``where``, oldest first (the CSV export)."""
    condition, params = where.where()
    rows = await store.fetch_all(
        f"SELECT seq, at, actor, action, target, reason FROM audit WHERE {condition}"  # noqa: S608 - fixed text
        " ORDER BY seq",
        params,
    )
    return [_row(store.keys, r) for r in rows]


async def actions(store: Store) -> list[str]:
    """The actions the log holds, for the page's select."""
    rows = await store.fetch_all("SELECT DISTINCT action FROM audit WHERE seq > 0 ORDER BY action")
    return [str(r[0]) for r in rows]


def _row(keys: KeyRing, r: sqlite3.Row | tuple[Any, ...]) -> AuditRecord:
    return AuditRecord(
        int(r[0]), dt.datetime.fromisoformat(r[1]), r[2], r[3], r[4], _reason(keys, r)
    )


def reason_id(seq: int) -> str:
    """The record id a reason is sealed under."""
    return f"audit:{seq}"


def _reason(keys: KeyRing, row: sqlite3.Row | tuple[Any, ...]) -> str:
    """The reason of an audit row (seq first, sealed reason sixth), unsealed."""
    sealed = str(row[5])
    return keys.open(reason_id(int(row[0])), bytes.fromhex(sealed)).decode() if sealed else ""


async def verify(store: Store) -> ChainReport:
    """Walk the whole chain: its genesis, every MAC, every link, no gap, and the head
    where it was left."""
    key = await _key(store)
    if key is None:
        return ChainReport(0, 0, _KEY_MISSING)
    rows = await store.fetch_all(
        "SELECT seq, at, actor, action, target, reason, prev, mac FROM audit ORDER BY seq"
    )
    head = await store.fetch_one("SELECT value FROM meta WHERE name = 'audit_head'")
    # A long chain is many MACs: computed off the event loop.
    return await asyncio.to_thread(_walk, key, store.keys, rows, head[0] if head else "")


def _walk(key: bytes, keys: KeyRing, rows: list[sqlite3.Row], head: str) -> ChainReport:
    if not rows:
        return ChainReport(0, 0, "the audit log is empty: its genesis record is missing")
    # A chain begun by this version starts at its genesis, 0; an older one at 1.
    prev, expected_seq = GENESIS, 0 if rows[0][0] == 0 else 1
    genesis: list[str] = []  # the targets of the genesis records met
    for row in rows:
        seq, _, actor, action, target, _, _, mac = row
        if seq != expected_seq:
            return ChainReport(len(rows), expected_seq, f"record {expected_seq} is missing")
        problem = _row_problem(key, keys, row, prev)
        if problem:
            return ChainReport(len(rows), seq, problem)
        if action == GENESIS_ACTION and actor == "system":
            genesis.append(target)
        prev, expected_seq = mac, seq + 1
    counted = len(rows) - (rows[0][0] == 0)  # the genesis at 0 is not a record of anything
    if not hmac.compare_digest(head, _head(key, expected_seq - 1, prev)):
        return ChainReport(counted, expected_seq, "records are missing from the end")
    return _genesis_report(counted, rows[0][0], genesis)


def _row_problem(key: bytes, keys: KeyRing, row: sqlite3.Row, prev: str) -> str:
    """What is wrong with one record that should follow the MAC ``prev``; "" if nothing."""
    seq, at, actor, action, target, _, link, mac = row
    if link != prev:
        return f"record {seq} does not follow record {seq - 1}"
    try:
        reason = _reason(keys, row)
    except (SealError, ValueError):  # not hex, or a blob that does not open here
        return f"record {seq} was altered"
    if not hmac.compare_digest(mac, _mac(key, seq, at, actor, action, target, reason, link)):
        return f"record {seq} was altered"
    return ""


def _genesis_report(counted: int, first: int, genesis: list[str]) -> ChainReport:
    """An intact chain's last checks: it begins at its genesis (seq 0) or, begun before
    genesis records, holds its upgrade's; and no genesis says the log had been emptied."""
    if EMPTIED in genesis:
        return ChainReport(counted, 0, EMPTIED_PROBLEM)
    if (first == 0 and genesis[:1] != [NEW_STORE]) or (first != 0 and UPGRADE not in genesis):
        return ChainReport(counted, first, "the genesis record is missing")
    return ChainReport(counted)
