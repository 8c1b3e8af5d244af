"""One node's store, and an empty store -> the same data in the empty one, its audit
chain verified (``gateway store migrate``: SQLite to a PostgreSQL store for several
nodes).

Every row moves as it is, sealed bytes included: both stores are opened with the same
master key, so nothing is unsealed on the way.  The source's audit chain is verified
before anything is written; the target takes over the source's audit key, head and
genesis mark in place of its own new chain, so the chain goes on where it was.  Rows
are read a page at a time (a quarantine of 100,000 messages does not fit in memory)
and written in one transaction of the target: a move that fails leaves the target as
it was.  Before that transaction commits, and again after, the target's chain must
verify with as many records as the source's, and every table must hold as many rows.

Not moved: console sessions (reviewers sign in again), and the rows of ``meta`` that
describe the old node's running gateway (heartbeat, register version in force).  Both
gateways must be stopped meanwhile.  This module builds on ``review/audit.py`` (the
chain), which builds on the store: nothing in the store imports it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError
from gateway.review import audit
from gateway.review.model import ChainReport
from gateway.store.db import Store
from gateway.store.inforce import HEARTBEAT, IN_FORCE
from gateway.store.model import StoreError

#: rows read from the source at a time (500 messages of 50 KB: some 50 MB, sealed
#: message and details together)
PAGE = 500
#: bound parameters in one INSERT (SQLite's lowest limit is 999)
MAX_PARAMS = 999


@dataclass(frozen=True)
class Table:
    """A table that moves: its columns as ``pg_schema.py`` names them, the first
    ``key`` of them its primary key (pages are read in its order), and which rows move."""

    name: str
    columns: tuple[str, ...]
    key: int = 1
    where: str = "1 = 1"
    params: tuple[Any, ...] = ()


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


TABLES: tuple[Table, ...] = (
    # key_id is the target's already (the same key); the per-node rows describe
    # processes of the old node
    Table(
        "meta",
        ("name", "value"),
        where="name != 'key_id' AND substr(name, 1, ?) != ? AND substr(name, 1, ?) != ?",
        params=(len(HEARTBEAT), HEARTBEAT, len(IN_FORCE), IN_FORCE),
    ),
    Table(
        "messages",
        _columns(
            "id received_at status status_at action severity rules findings size rcpt_count"
            " details raw false_positive attempts severity_rank sender_key rcpts_key"
            " subject_key first_case first_rule claimed_by claimed_at terms_key"
        ),
    ),
    Table("message_terms", _columns("field term message_id"), key=3),
    Table(
        "register_versions",
        _columns(
            "version imported_at source format cases body actor action source_digest digest"
            " canonical"
        ),
    ),
    Table("register_files", _columns("path digest version imported_at")),
    Table("approvals", _columns('message_id "user" at user_id'), key=2),
    Table(
        "users",
        _columns(
            "name email roles password_hash totp disabled failures locked_until created_at uid"
        ),
    ),
    Table("user_aliases", _columns("uid address added_at"), key=2),
    Table("audit", _columns("seq at actor action target reason prev mac")),
)


@dataclass(frozen=True)
class MoveReport:
    """What moved: rows per table (in the order they moved), and the audit records the
    target's chain verified with (its genesis not counted, as ``audit verify`` says)."""

    rows: Mapping[str, int]
    audit_records: int


async def move_store(source: Store, target: Store) -> MoveReport:
    """Copy every row of ``source`` into ``target``, which must be empty; ``ConfigError``
    if it is not, or if the source's audit chain does not verify; ``StoreError`` if the
    target, read back, differs from the source."""
    if source.keys.id != target.keys.id:
        raise ConfigError(f"{target.url}: opened with another master key than {source.url}")
    chain = await audit.verify(source)
    if not chain.ok:
        raise ConfigError(
            f"{source.url}: the audit chain does not verify ({chain.problem}): not moved; "
            "`gateway audit verify` tells more"
        )
    expected = await _counts(source)
    async with target.transaction() as write:
        await _refuse_unless_empty(target)  # in the transaction that fills it
        async with target._audit_guards_off():
            await write("DELETE FROM audit")
            await write("DELETE FROM meta WHERE name != 'key_id'")
            rows = {table.name: await _copy(source, write, table) for table in TABLES}
        # checked before the commit too, so that a move found wrong leaves nothing behind
        await _check(source, target, chain, expected)
    report = await _check(source, target, chain, expected)
    return MoveReport(rows, report.records)


async def _refuse_unless_empty(target: Store) -> None:
    """``ConfigError`` unless the target holds nothing but its schema, key and genesis."""
    held = [
        table.name
        for table in TABLES
        if table.name not in {"meta", "audit"} and await _count(target, table)
    ]
    if await target.fetch_one("SELECT 1 FROM audit WHERE seq > 0 LIMIT 1"):
        held.append("audit records")
    if held:
        raise ConfigError(
            f"{target.url}: the target store is not empty (it holds {', '.join(held)}); "
            "a store is moved only into a new, empty database"
        )


async def _copy(source: Store, write: Callable[..., Awaitable[int]], table: Table) -> int:
    """Every row of ``table`` that moves, a page at a time; how many."""
    moved = 0
    after: tuple[Any, ...] = ()
    while True:
        rows = await _read(source, *_page(table, after))
        per_insert = max(1, MAX_PARAMS // len(table.columns))
        for start in range(0, len(rows), per_insert):
            chunk = rows[start : start + per_insert]
            await write(_insert(table, len(chunk)), tuple(v for row in chunk for v in row))
        moved += len(rows)
        if len(rows) < PAGE:
            return moved
        after = tuple(rows[-1][: table.key])


def _page(table: Table, after: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The next page of ``table`` after the key ``after`` (the first page if empty)."""
    key = ", ".join(table.columns[: table.key])
    where, params = table.where, table.params
    if after:
        marks = ", ".join("?" * len(after))
        where, params = f"{where} AND ({key}) > ({marks})", (*params, *after)
    columns = ", ".join(table.columns)
    # names from TABLES; every value is a parameter
    sql = f"SELECT {columns} FROM {table.name} WHERE {where} ORDER BY {key} LIMIT ?"  # noqa: S608
    return sql, (*params, PAGE)


def _insert(table: Table, rows: int) -> str:
    values = ", ".join(["(" + ", ".join("?" * len(table.columns)) + ")"] * rows)
    return f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES {values}"  # noqa: S608


async def _read(source: Store, sql: str, params: tuple[Any, ...]) -> Sequence[Sequence[Any]]:
    """Rows of the source, read outside the target's transaction: on PostgreSQL the
    transaction's connection is the task's (a context variable, ``pg.py``), so a
    PostgreSQL source read in the same context would read the target."""
    return await asyncio.create_task(source.fetch_all(sql, params), context=contextvars.Context())


async def _count(store: Store, table: Table) -> int:
    sql = f"SELECT count(*) FROM {table.name} WHERE {table.where}"  # noqa: S608 (TABLES)
    row = await store.fetch_one(sql, table.params)
    return int(row[0]) if row else 0


async def _counts(store: Store) -> dict[str, int]:
    return {table.name: await _count(store, table) for table in TABLES}


async def _check(
    source: Store, target: Store, chain: ChainReport, expected: Mapping[str, int]
) -> ChainReport:
    """The target's chain report; ``StoreError`` saying what differs from the source."""
    report = await audit.verify(target)
    found = await _counts(target)
    differ = [
        f"{name} {expected[name]} rows, {found[name]} moved"
        for name in expected
        if expected[name] != found[name]
    ]
    if not report.ok:
        differ.append(f"the moved audit chain does not verify ({report.problem})")
    elif report.records != chain.records:
        differ.append(f"audit chain {chain.records} records, {report.records} moved")
    if differ:
        raise StoreError(
            f"store: the move of {source.url} to {target.url} is not exact: {'; '.join(differ)}"
        )
    return report
