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
from typing import Any

from gateway.crypto import KeyRing, SealError
from gateway.review.model import AuditRecord, ChainReport
from gateway.store import Store

GENESIS = "0" * 64
_KEY_RECORD = "audit-key"


async def audit_key(store: Store) -> bytes:
    """The audit MAC key, made and sealed on first use."""
    row = await store.fetch_one("SELECT value FROM meta WHERE name = 'audit_key'")
    if row is None:
        sealed = store.keys.seal(_KEY_RECORD, secrets.token_bytes(32))
        await store.execute("INSERT OR IGNORE INTO meta VALUES ('audit_key', ?)", (sealed.hex(),))
        row = await store.fetch_one("SELECT value FROM meta WHERE name = 'audit_key'")
    assert row is not None
    return store.keys.open(_KEY_RECORD, bytes.fromhex(row[0]))


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
    at = dt.datetime.now(dt.UTC).isoformat()
    async with store.transaction() as write:
        head = await store.fetch_one("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1")
        seq, prev = (1, GENESIS) if head is None else (int(head[0]) + 1, str(head[1]))
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
    return seq


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
        " WHERE target = coalesce(?, target) AND at >= coalesce(?, at)"
        " ORDER BY seq DESC LIMIT ?",
        (target, after, limit),
    )
    return [
        AuditRecord(
            int(r[0]), dt.datetime.fromisoformat(r[1]), r[2], r[3], r[4], _reason(store.keys, r)
        )
        for r in reversed(rows)
    ]


def reason_id(seq: int) -> str:
    """The record id a reason is sealed under."""
    return f"audit:{seq}"


def _reason(keys: KeyRing, row: sqlite3.Row | tuple[Any, ...]) -> str:
    """The reason of an audit row (seq first, sealed reason sixth), unsealed."""
    sealed = str(row[5])
    return keys.open(reason_id(int(row[0])), bytes.fromhex(sealed)).decode() if sealed else ""


async def verify(store: Store) -> ChainReport:
    """Walk the whole chain: every MAC, every link, no gap, and the head where it was left."""
    key = await audit_key(store)
    rows = await store.fetch_all(
        "SELECT seq, at, actor, action, target, reason, prev, mac FROM audit ORDER BY rowid"
    )
    head = await store.fetch_one("SELECT value FROM meta WHERE name = 'audit_head'")
    # A long chain is many MACs: computed off the event loop.
    return await asyncio.to_thread(_walk, key, store.keys, rows, head[0] if head else "")


def _walk(key: bytes, keys: KeyRing, rows: list[sqlite3.Row], head: str) -> ChainReport:
    prev, expected_seq = GENESIS, 1
    for row in rows:
        seq, at, actor, action, target, _, link, mac = row
        if seq != expected_seq:
            return ChainReport(len(rows), expected_seq, f"record {expected_seq} is missing")
        if link != prev:
            return ChainReport(len(rows), seq, f"record {seq} does not follow record {seq - 1}")
        try:
            reason = _reason(keys, row)
        except (SealError, ValueError):  # not hex, or a blob that does not open here
            return ChainReport(len(rows), seq, f"record {seq} was altered")
        if not hmac.compare_digest(mac, _mac(key, seq, at, actor, action, target, reason, link)):
            return ChainReport(len(rows), seq, f"record {seq} was altered")
        prev, expected_seq = mac, seq + 1
    last = _head(key, expected_seq - 1, prev) if rows else ""
    if not hmac.compare_digest(head, last):
        return ChainReport(len(rows), expected_seq, "records are missing from the end")
    return ChainReport(len(rows))
