"""A search of the quarantine -> one page of rows, read in order from an index.

The list sorts by a column that has an index (migration 5), with the message id as the
tie-break, and pages by keyset: the next page starts after the (sort value, id) of the
last row shown, so a page deep in 100,000 rows costs what the first one costs (an
OFFSET would read and throw away every row before it).  Sender, recipient and subject
are searched through the blind index (``blind.py``); only the rows of the page are
unsealed.  Claims ("I'm on it") are a compare-and-set on the row.

Rows held before the index existed are indexed by ``index_terms``, which ``Store.open``
starts in the background (in batches of ``INDEX_BATCH``, one transaction each; the store
serves meanwhile, and close stops it) and ``rekey`` runs again for the new key; a row
whose ``terms_key`` is not the current key's is not found by a search until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.parser
import email.policy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from gateway.crypto import KeyRing
from gateway.store.base import Connection, guard, now
from gateway.store.blind import CASE, RULE, TO, WORD, BlindIndex, MessageTerms
from gateway.store.model import (
    SORTS,
    HeldMessage,
    HeldSummary,
    ListedMessage,
    ListPage,
    ListQuery,
    Status,
    StoreError,
)

log = structlog.get_logger("gateway.store")

INDEX_BATCH = 500
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
SUMMARY_COLUMNS = (
    "id, received_at, status, action, severity, rules, findings, size, rcpt_count,"
    " false_positive, claimed_by, claimed_at"
)
Write = Callable[..., Awaitable[int]]


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 4)


def summary_of(row: Any) -> HeldSummary:
    """A ``SUMMARY_COLUMNS`` row -> its summary."""
    return HeldSummary(
        id=row[0],
        received_at=dt.datetime.fromisoformat(row[1]),
        status=row[2],
        action=row[3],
        severity=row[4],
        rules=tuple(json.loads(row[5])),
        findings=tuple(json.loads(row[6])),
        size=row[7],
        rcpt_count=row[8],
        false_positive=bool(row[9]),
        claimed_by=row[10],
        claimed_at=row[11],
    )


def details_id(message_id: str) -> str:
    return f"{message_id}/details"


def raw_id(message_id: str) -> str:
    return f"{message_id}/raw"


def subject_of(raw: bytes) -> str:
    """The decoded Subject of a message held before subjects were kept (read from its
    header block only; '' if it has none or it cannot be read)."""
    try:
        parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        return " ".join(str(parsed.get("Subject", "")).split())
    except Exception:  # hostile headers: the subject is then unknown
        return ""


def _cases(findings: Any) -> list[str]:
    return [str(f["case"]) for f in findings if isinstance(f, dict) and f.get("case")]


class _KeyedIndex(BlindIndex):
    """The blind index, remembering which master key it was made from."""

    __slots__ = ("keys_id",)

    def __init__(self, keys: KeyRing) -> None:
        super().__init__(keys)
        self.keys_id = keys.id


class Listing(Connection):
    """The list, search, claims and blind index of the store (a part of ``Store``)."""

    _blind_cache: _KeyedIndex | None = None

    @property
    def blind(self) -> BlindIndex:
        """The blind index of the current master key."""
        cached = self._blind_cache
        if cached is None or cached.keys_id != self._keys.id:
            cached = self._blind_cache = _KeyedIndex(self._keys)
        return cached

    def message_terms(self, msg: HeldMessage) -> MessageTerms:
        return self.blind.message(
            msg.mail_from, msg.rcpt_tos, msg.subject, _cases(msg.findings), msg.rules
        )

    async def write_terms(self, write: Write, message_id: str, terms: MessageTerms) -> None:
        """Inside a transaction: the search terms of a message (one statement)."""
        await self.write_term_rows(write, [(f, t, message_id) for f, t in terms.terms])

    async def write_term_rows(self, write: Write, rows: list[tuple[str, str, str]]) -> None:
        """Inside a transaction: (field, term, message id) rows, in one statement."""
        if not rows:
            return
        values = ", ".join(["(?, ?, ?)"] * len(rows))
        await write(
            f"INSERT INTO message_terms (field, term, message_id) VALUES {values}"  # noqa: S608
            " ON CONFLICT (field, term, message_id) DO NOTHING",
            tuple(v for row in rows for v in row),
        )

    # -- the older rows ---------------------------------------------------------------

    _indexing: asyncio.Task[None] | None = None

    def start_indexing_older(self) -> None:
        """At open: index the rows the search does not find yet (after an upgrade, or a
        new master key) in the background, so that a large quarantine does not hold up
        the start; until then a search may miss them, the list by status does not."""
        self._indexing = asyncio.create_task(self.index_older(), name="index older messages")

    async def indexed(self) -> None:
        """Wait until the older rows are indexed (or their indexing has failed)."""
        if self._indexing is not None:
            await asyncio.shield(self._indexing)

    async def stop_indexing(self) -> None:
        """At close: stop the background indexing; the next open carries on from there
        (each batch is committed)."""
        task = self._indexing
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def index_older(self) -> None:
        """Index the rows the search does not find yet, unless another node is doing it
        now (PostgreSQL).  A failure is logged, not raised: the next open tries again."""
        try:
            async with self.job("index-terms") as mine:
                if mine:
                    done = await self.index_terms()
                    if done:
                        log.info("older messages indexed for search", count=done)
        except StoreError as exc:
            log.warning("indexing older messages for search failed", error=str(exc))

    async def index_terms(self, batch: int = INDEX_BATCH) -> int:
        """Index every message not indexed with the current key, ``batch`` at a time;
        how many were indexed."""
        done, last = 0, ""
        while True:
            with guard("index messages for search"):
                rows = await self._all(
                    "SELECT id, rules, findings, details FROM messages WHERE id > ?"
                    " AND (terms_key IS NULL OR terms_key <> ?) ORDER BY id LIMIT ?",
                    (last, self.blind.id, batch),
                )
            if not rows:
                return done
            last = rows[-1][0]
            computed = [(row[0], await self._terms_of_row(row)) for row in rows]
            with guard("index messages for search"):
                async with self._writing, self._transaction():
                    for message_id, terms in computed:
                        await self._store_terms(message_id, terms)
            done += len(rows)

    async def _terms_of_row(self, row: Any) -> MessageTerms:
        message_id, rules, findings = row[0], json.loads(row[1]), json.loads(row[2])
        details = json.loads(self._keys.open(details_id(message_id), row[3]))
        subject = details.get("subject")
        if subject is None:
            subject = await self._old_subject(message_id)
        return await asyncio.to_thread(
            self.blind.message,
            details["mail_from"],
            details["rcpt_tos"],
            subject,
            _cases(findings),
            rules,
        )

    async def _old_subject(self, message_id: str) -> str:
        raw = await self._one("SELECT raw FROM messages WHERE id = ?", (message_id,))
        if raw is None:
            return ""
        return subject_of(self._keys.open(raw_id(message_id), raw[0]))

    async def _store_terms(self, message_id: str, terms: MessageTerms) -> None:
        changed = await self._changed(
            "UPDATE messages SET sender_key = ?, rcpts_key = ?, subject_key = ?,"
            " first_case = ?, first_rule = ?, terms_key = ? WHERE id = ?",
            (
                terms.sender_key,
                terms.rcpts_key,
                terms.subject_key,
                terms.first_case,
                terms.first_rule,
                self.blind.id,
                message_id,
            ),
        )
        await self._changed("DELETE FROM message_terms WHERE message_id = ?", (message_id,))
        if changed == 1:  # purged meanwhile: no terms without their message
            await self.write_terms(self._changed, message_id, terms)

    # -- the list ---------------------------------------------------------------------

    def _where(self, q: ListQuery, with_status: bool = True) -> tuple[list[str], list[Any]]:
        """The conditions of ``q`` (every value a parameter) and their parameters."""
        where: list[str] = []
        params: list[Any] = []
        if with_status and q.status is not None:
            where.append("status = ?")
            params.append(q.status)
        if q.received_from is not None:
            where.append("received_at >= ?")
            params.append(q.received_from.astimezone(dt.UTC).isoformat())
        if q.received_to is not None:
            where.append("received_at < ?")
            params.append(q.received_to.astimezone(dt.UTC).isoformat())
        if q.sender.strip():
            where.append("sender_key = ?")
            params.append(self.blind.sender(q.sender.strip()))
        if q.claimed:
            where.append("claimed_by = ?")
            params.append("" if q.claimed == "-" else q.claimed)
        term = "id IN (SELECT message_id FROM message_terms WHERE field = ? AND term = ?)"
        for field, value in (
            (TO, self.blind.recipient(q.recipient.strip()) if q.recipient.strip() else ""),
            (CASE, q.case.strip()),
            (RULE, q.rule.strip()),
        ):
            if value:
                where.append(term)
                params += [field, value]
        words = sorted(set(self.blind.words(q.subject)))
        if words:
            marks = ", ".join("?" * len(words))
            where.append(
                "id IN (SELECT message_id FROM message_terms WHERE field = ?"  # noqa: S608
                f" AND term IN ({marks}) GROUP BY message_id HAVING count(*) = ?)"
            )
            params += [WORD, *words, len(words)]
        return where, params

    def list_sql(self, q: ListQuery) -> tuple[str, tuple[Any, ...]]:
        """The SQL of one page of ``q`` (one row more than the page, to know if there
        is a next one), for ``list_page`` and for the tests' query plans."""
        where, params = self._where(q)
        column = SORTS[q.sort]
        backwards = q.before is not None and q.after is None
        down = q.descending != backwards
        cursor = q.before if backwards else q.after
        if cursor is not None:
            where.append(f"({column}, id) {'<' if down else '>'} (?, ?)")
            params += [cursor[0], cursor[1]]
        order = " DESC" if down else ""
        sql = (
            f"SELECT {SUMMARY_COLUMNS}, details, {column} FROM messages"  # noqa: S608
            f" WHERE {' AND '.join(where) or '1 = 1'}"
            f" ORDER BY {column}{order}, id{order} LIMIT ?"
        )
        return sql, (*params, q.limit + 1)

    async def list_page(self, q: ListQuery) -> ListPage:
        """One page of the messages ``q`` finds, in its order; only these rows are
        unsealed."""
        sql, params = self.list_sql(q)
        with guard("list messages"):
            rows = await self._all(sql, params)
        backwards = q.before is not None and q.after is None
        more = len(rows) > q.limit
        rows = rows[: q.limit]
        if backwards:
            rows.reverse()
        listed = [await self._listed(row) for row in rows]
        first = listed[0].cursor if listed else None
        last = listed[-1].cursor if listed else None
        if backwards:
            has_previous, has_next = more, True
        else:
            has_previous, has_next = q.after is not None, more
        return ListPage(
            tuple(listed), last if has_next and listed else None, first if has_previous else None
        )

    async def _listed(self, row: Any) -> ListedMessage:
        summary = summary_of(row)
        details = json.loads(self._keys.open(details_id(summary.id), row[12]))
        subject = details.get("subject")
        if subject is None:
            with guard(f"read message {summary.id}"):
                subject = await self._old_subject(summary.id)
        return ListedMessage(
            summary=summary,
            mail_from=details["mail_from"],
            rcpt_tos=tuple(details["rcpt_tos"]),
            subject=subject,
            evidence=details.get("evidence", []),
            cursor=(row[13], summary.id),
        )

    async def count_matching(self, q: ListQuery) -> dict[str, int]:
        """How many messages of each status ``q`` finds (its status aside)."""
        where, params = self._where(q, with_status=False)
        sql = (
            "SELECT status, count(*) FROM messages"  # noqa: S608 - conditions from _where
            f" WHERE {' AND '.join(where) or '1 = 1'} GROUP BY status"
        )
        with guard("count messages"):
            rows = await self._all(sql, tuple(params))
        return {str(status): int(count) for status, count in rows}

    async def matching_ids(self, q: ListQuery, limit: int) -> list[str]:
        """The ids of up to ``limit`` messages ``q`` finds, in its order (cursors aside)."""
        where, params = self._where(q)
        column = SORTS[q.sort]
        order = " DESC" if q.descending else ""
        sql = (
            f"SELECT id FROM messages WHERE {' AND '.join(where) or '1 = 1'}"  # noqa: S608
            f" ORDER BY {column}{order}, id{order} LIMIT ?"
        )
        with guard("list messages"):
            rows = await self._all(sql, (*params, limit))
        return [str(row[0]) for row in rows]

    # -- claims -----------------------------------------------------------------------

    async def claim(self, message_id: str, name: str, take_over: bool = False) -> bool:
        """Mark a held message as ``name``'s ("I'm on it"): True if it is now theirs;
        False if it is not held, or (without ``take_over``) another account has it."""
        with guard(f"claim message {message_id}"):
            async with self._writing:
                changed = await self._changed(
                    "UPDATE messages SET claimed_by = ?, claimed_at = ? WHERE id = ?"
                    " AND status = 'held' AND (claimed_by = '' OR claimed_by = ? OR ? = 1)",
                    (name, now(), message_id, name, int(take_over)),
                )
        return changed == 1

    async def unclaim(self, message_id: str, name: str | None = None) -> bool:
        """Drop ``name``'s claim (anyone's with None); True if there was one to drop."""
        with guard(f"unclaim message {message_id}"):
            async with self._writing:
                changed = await self._changed(
                    "UPDATE messages SET claimed_by = '', claimed_at = '' WHERE id = ?"
                    " AND claimed_by <> '' AND (claimed_by = ? OR ? = 1)",
                    (message_id, name or "", int(name is None)),
                )
        return changed == 1

    async def claimed_by(self, message_id: str) -> tuple[str, str] | None:
        """(who, since when) of a message's claim ('' if none); None: no such message."""
        with guard(f"read message {message_id}"):
            row = await self._one(
                "SELECT claimed_by, claimed_at FROM messages WHERE id = ?", (message_id,)
            )
        return None if row is None else (str(row[0]), str(row[1]))


__all__ = ["INDEX_BATCH", "Listing", "Status", "severity_rank", "summary_of"]
