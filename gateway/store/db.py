"""The SQLite store: held messages and register versions, sealed at rest.

``Store`` opens the database, keeps the quarantine and rotates the key; the connection
is in ``base.py``, register versions in ``registers.py``.  What may identify a person
(message bytes, envelope, evidence, register text, audit reasons) is sealed by the
``KeyRing``; verdicts, finding kinds and sizes stay in clear so that listings need no
key work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.crypto import KeyRing
from gateway.errors import ConfigError
from gateway.store.base import guard, now
from gateway.store.blind import MessageTerms
from gateway.store.inforce import InForceRecords
from gateway.store.listing import (
    SUMMARY_COLUMNS,
    Listing,
    details_id,
    raw_id,
    severity_rank,
    summary_of,
)
from gateway.store.model import (
    STATUSES,
    HeldMessage,
    HeldSummary,
    RekeyCounts,
    Status,
    StoreError,
)
from gateway.store.oversight import Oversight
from gateway.store.registers import RegisterVersions
from gateway.store.schema import AUDIT_TRIGGERS, migrate, statements

BUSY_TIMEOUT_SECONDS = 10.0
_INSERT_MESSAGE = """
    INSERT INTO messages (id, received_at, status, status_at, action, severity, rules,
                          findings, size, rcpt_count, details, raw, severity_rank,
                          sender_key, rcpts_key, subject_key, first_case, first_rule, terms_key)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_SELECT_MESSAGE = """
    SELECT id, received_at, status, status_at, action, severity, rules, findings,
           size, rcpt_count, details, raw, false_positive, attempts
    FROM messages WHERE id = ?
"""
_RULE_COUNTS = """
    SELECT rule.value, count(*) FROM messages, json_each(messages.rules) AS rule
    WHERE messages.false_positive >= ? GROUP BY rule.value
"""
# The list of summaries in both dialects: only the test for a finding of a case differs
# (each reads the findings' JSON its own way); the CASTs tell PostgreSQL the type of a
# parameter that may be NULL.
LIST_SQL = """
    SELECT id, received_at, status, action, severity, rules, findings, size, rcpt_count,
           false_positive, claimed_by, claimed_at
    FROM messages
    WHERE status = coalesce(CAST(? AS TEXT), status)
      AND received_at >= coalesce(CAST(? AS TEXT), received_at)
      AND (CAST(? AS TEXT) IS NULL OR {case_found})
    ORDER BY CASE WHEN ? THEN CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                            WHEN 'medium' THEN 2 WHEN 'low' THEN 3
                                            ELSE 4 END ELSE 0 END, id
    LIMIT ?
"""
_LIST = LIST_SQL.format(
    case_found="EXISTS (SELECT 1 FROM json_each(messages.findings)"
    " WHERE json_extract(value, '$.case') = ?)"
)


_raw_id, _details_id = raw_id, details_id


class Store(RegisterVersions, InForceRecords, Listing, Oversight):
    """Held messages and the register, in one SQLite file; open with ``Store.open``
    (or ``opening.open_store`` for either database)."""

    _LIST = _LIST
    _RULE_COUNTS = _RULE_COUNTS

    def __repr__(self) -> str:
        return f"Store(path={str(self.path)!r}, key={self._keys.id.hex()})"

    @classmethod
    async def open(cls, path: Path, keys: KeyRing) -> Store:
        """Open (or create) the database at ``path`` and bring its schema up to date."""
        with guard("open the database"):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            new = not path.exists()
            db = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        store = cls(db, keys, path)
        try:
            with guard("open the database"):
                if new:
                    path.chmod(0o600)
                await store._setup()
            # The audit chain's first record, written once per store (review/audit.py
            # says when); imported here, as the review package builds on the store.
            from gateway.review.audit import ensure_genesis  # noqa: PLC0415

            await ensure_genesis(store, new)
            store.start_indexing_older()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection; everything written is already durable."""
        await self.stop_indexing()
        await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _setup(self) -> None:
        async with self._db.execute("PRAGMA journal_mode=WAL") as cursor:
            mode = await cursor.fetchone()
        if not mode or str(mode[0]).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch the database to WAL mode")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await migrate(self._db)
        await self._check_key()

    async def _check_key(self) -> None:
        """Refuse a key that did not seal this database, before anything is written."""
        row = await self._one("SELECT value FROM meta WHERE name = 'key_id'")
        if row is None:
            await self._changed(
                "INSERT INTO meta VALUES ('key_id', ?) ON CONFLICT (name) DO NOTHING",
                (self._keys.id.hex(),),
            )
            row = await self._one("SELECT value FROM meta WHERE name = 'key_id'")
        if row is not None and row[0] != self._keys.id.hex():
            raise ConfigError(
                f"{self._keys.path or 'master key'}: not the key of {self.url} "
                f"(key id {self._keys.id.hex()}, the database was sealed with {row[0]})"
            )

    # -- quarantine -----------------------------------------------------------------

    async def hold(self, msg: HeldMessage) -> str:
        """Store ``msg`` durably (committed and fsynced) before returning its id, with
        its search terms."""
        row, terms = await asyncio.to_thread(self._message_row, msg)
        with guard(f"hold message {msg.id}"):
            async with self._writing, self._transaction():
                await self._changed(_INSERT_MESSAGE, row)
                await self.write_terms(self._changed, msg.id, terms)
        return msg.id

    async def hold_many(self, messages: list[HeldMessage], per_statement: int = 100) -> None:
        """Store several messages in one transaction, ``per_statement`` rows to an
        INSERT (imports, benchmarks, tests)."""
        made = await asyncio.to_thread(lambda: [self._message_row(m) for m in messages])
        head, values = _INSERT_MESSAGE.split("VALUES")
        with guard(f"hold {len(messages)} messages"):
            async with self._writing, self._transaction():
                for at in range(0, len(made), per_statement):
                    chunk = made[at : at + per_statement]
                    rows = [value for row, _ in chunk for value in row]
                    await self._changed(
                        f"{head} VALUES {', '.join([values.strip()] * len(chunk))}", tuple(rows)
                    )
                    terms = [(f, t, row[0]) for row, found in chunk for f, t in found.terms]
                    await self.write_term_rows(self._changed, terms)

    def _message_row(self, msg: HeldMessage) -> tuple[tuple[Any, ...], MessageTerms]:
        if msg.status not in STATUSES:
            raise ValueError(f"unknown status {msg.status!r}")
        if msg.received_at.utcoffset() is None:
            raise ValueError("received_at must carry a time zone")
        details = {
            "mail_from": msg.mail_from,
            "rcpt_tos": list(msg.rcpt_tos),
            "evidence": [dict(e) for e in msg.evidence],
            "mta_queue_id": msg.mta_queue_id,
            "subject": msg.subject,
        }
        terms = self.message_terms(msg)
        return (
            msg.id,
            msg.received_at.astimezone(dt.UTC).isoformat(),
            msg.status,
            now(),
            msg.action,
            msg.severity,
            json.dumps(list(msg.rules)),
            json.dumps([dict(f) for f in msg.findings], default=str),
            len(msg.raw),
            len(msg.rcpt_tos),
            self._keys.seal(_details_id(msg.id), _to_json(details)),
            self._keys.seal(_raw_id(msg.id), msg.raw),
            severity_rank(msg.severity),
            terms.sender_key,
            terms.rcpts_key,
            terms.subject_key,
            terms.first_case,
            terms.first_rule,
            self.blind.id,
        ), terms

    async def get(self, message_id: str) -> HeldMessage | None:
        """The whole held message, unsealed; ``None`` if there is no such id."""
        with guard(f"read message {message_id}"):
            row = await self._one(_SELECT_MESSAGE, (message_id,))
        return None if row is None else await asyncio.to_thread(self._unseal_message, row)

    def _unseal_message(self, row: sqlite3.Row) -> HeldMessage:
        message_id = row[0]
        details = json.loads(self._keys.open(_details_id(message_id), row[10]))
        return HeldMessage(
            id=message_id,
            received_at=dt.datetime.fromisoformat(row[1]),
            mail_from=details["mail_from"],
            rcpt_tos=tuple(details["rcpt_tos"]),
            raw=self._keys.open(_raw_id(message_id), row[11]),
            action=row[4],
            severity=row[5],
            rules=tuple(json.loads(row[6])),
            findings=json.loads(row[7]),
            evidence=details["evidence"],
            status=row[2],
            false_positive=bool(row[12]),
            attempts=int(row[13]),
            mta_queue_id=details.get("mta_queue_id", ""),
            subject=details.get("subject", ""),
        )

    async def list_held(
        self,
        status: Status | None = None,
        limit: int = 100,
        *,
        case: str | None = None,
        since: dt.datetime | None = None,
        by_severity: bool = False,
    ) -> list[HeldSummary]:
        """Summaries, oldest first (most severe first, then oldest, with ``by_severity``),
        of messages in ``status`` (every status if None), received at or after
        ``since``, with a finding for register case ``case``."""
        after = None if since is None else since.astimezone(dt.UTC).isoformat()
        with guard("list messages"):
            rows = await self._all(self._LIST, (status, after, case, case, by_severity, limit))
        return [summary_of(row) for row in rows]

    async def summary(self, message_id: str) -> HeldSummary | None:
        """One message's summary (nothing sealed is opened); ``None`` if there is none."""
        with guard(f"read message {message_id}"):
            row = await self._one(
                f"SELECT {SUMMARY_COLUMNS} FROM messages WHERE id = ?",  # noqa: S608
                (message_id,),
            )
        return None if row is None else summary_of(row)

    async def count_by_status(self) -> dict[str, int]:
        """How many messages are in each status."""
        with guard("count messages"):
            rows = await self._all("SELECT status, count(*) FROM messages GROUP BY status")
        return dict.fromkeys(STATUSES, 0) | {row[0]: int(row[1]) for row in rows}

    async def count_held(self) -> int:
        """How many messages are waiting for a reviewer."""
        with guard("count messages"):
            row = await self._one("SELECT count(*) FROM messages WHERE status = 'held'")
        return int(row[0]) if row else 0

    async def set_status(self, message_id: str, status: Status) -> None:
        """Mark a message held, released or rejected; ``StoreError`` if there is none."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with guard(f"update message {message_id}"):
            async with self._writing:
                changed = await self._changed(
                    "UPDATE messages SET status = ?, status_at = ? WHERE id = ?",
                    (status, now(), message_id),
                )
        if changed != 1:
            raise StoreError(f"store: no message {message_id}")

    async def transition(self, message_id: str, before: Status, after: Status) -> bool:
        """Move a message from ``before`` to ``after``; False if it was not in ``before``
        (so of two reviewers pressing at once, exactly one wins)."""
        with guard(f"update message {message_id}"):
            async with self._writing:
                changed = await self._changed(
                    "UPDATE messages SET status = ?, status_at = ?, claimed_by = '',"
                    " claimed_at = '' WHERE id = ? AND status = ?",
                    (after, now(), message_id, before),
                )
        return changed == 1

    async def purge(self, before: dt.datetime) -> list[str]:
        """Delete every message received before ``before`` that is not mid-release;
        the ids deleted."""
        cutoff = before.astimezone(dt.UTC).isoformat()
        with guard("purge messages"):
            async with self._writing, self._transaction():
                rows = await self._all(
                    "SELECT id FROM messages WHERE received_at < ? AND status != 'releasing'",
                    (cutoff,),
                )
                ids = [row[0] for row in rows]
                for message_id in ids:
                    await self._changed("DELETE FROM messages WHERE id = ?", (message_id,))
                    await self._changed("DELETE FROM approvals WHERE message_id = ?", (message_id,))
                    await self._changed(
                        "DELETE FROM message_terms WHERE message_id = ?", (message_id,)
                    )
        return ids

    # -- keys -----------------------------------------------------------------------

    async def rekey(self, new: KeyRing) -> RekeyCounts:
        """Rewrap every sealed record for ``new``, all in one transaction."""
        with guard("rekey"):
            async with self._writing, self._transaction():
                messages = await self._rewrap_messages(new)
                versions = await self._rewrap_register(new)
                await self._rewrap_secrets(new)
                await self._changed(
                    "UPDATE meta SET value = ? WHERE name = 'key_id'", (new.id.hex(),)
                )
        self._keys = new
        # The blind index's key is derived from the master key: index again for the new
        # one (a search misses a row until then; rekey runs with the gateway stopped).
        await self.index_terms()
        return RekeyCounts(messages, versions, 2 * messages + versions)

    async def _rewrap_messages(self, new: KeyRing) -> int:
        ids = [row[0] for row in await self._all("SELECT id FROM messages")]
        for message_id in ids:
            row = await self._one("SELECT details, raw FROM messages WHERE id = ?", (message_id,))
            assert row is not None  # the write transaction keeps rows from going away
            details = self._keys.rewrap(_details_id(message_id), row[0], new)
            raw = self._keys.rewrap(_raw_id(message_id), row[1], new)
            await self._changed(
                "UPDATE messages SET details = ?, raw = ? WHERE id = ?", (details, raw, message_id)
            )
        return len(ids)

    async def _rewrap_secrets(self, new: KeyRing) -> None:
        """The audit MAC key and the users' TOTP secrets are sealed too."""
        row = await self._one("SELECT value FROM meta WHERE name = 'audit_key'")
        if row is not None:
            blob = self._keys.rewrap("audit-key", bytes.fromhex(row[0]), new)
            await self._changed("UPDATE meta SET value = ? WHERE name = 'audit_key'", (blob.hex(),))
        for name, totp in await self._all("SELECT name, totp FROM users WHERE totp IS NOT NULL"):
            rewrapped = self._keys.rewrap(f"totp:{name}", totp, new)
            await self._changed("UPDATE users SET totp = ? WHERE name = ?", (rewrapped, name))
        reasons = await self._all("SELECT seq, reason FROM audit WHERE reason != ''")
        # Sealed reasons are re-wrapped in place: the append-only guards are set aside
        # for that, inside this transaction (the chain's MACs cover the plain reasons).
        async with self._audit_guards_off():
            for seq, sealed in reasons:
                blob = self._keys.rewrap(f"audit:{seq}", bytes.fromhex(sealed), new)
                await self._changed("UPDATE audit SET reason = ? WHERE seq = ?", (blob.hex(), seq))

    @asynccontextmanager
    async def _audit_guards_off(self) -> AsyncIterator[None]:
        """Inside a transaction: the audit table's append-only triggers dropped, and
        made again as migration 2 made them."""
        await self._changed("DROP TRIGGER audit_no_update")
        await self._changed("DROP TRIGGER audit_no_delete")
        yield
        for statement in statements(AUDIT_TRIGGERS):
            await self._changed(statement)

    # -- dialect: what SQLite and PostgreSQL say differently ------------------------

    async def rule_counts(self, false_positive_only: bool = False) -> dict[str, int]:
        """Messages in the quarantine (any status) per rule that decided them."""
        with guard("count messages per rule"):
            rows = await self._all(self._RULE_COUNTS, (int(false_positive_only),))
        return {str(rule): int(count) for rule, count in rows}


def _to_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
