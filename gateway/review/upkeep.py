"""review: the running gateway's review chores: retries, retention, digest, policy audit.

``upkeep`` runs in ``gateway serve``'s task group (on several nodes, one node's at a
time: ``Store.job``): every ``TICK_SECONDS`` it tries again
the releases the upstream refused, purges messages past the retention period, and once
a day at the configured hour sends the review team its digest.  It verifies the audit
chain at the first tick and every ``CHAIN_CHECK_SECONDS`` after (a long chain is many
MACs: too costly for each metrics scrape), and reports the outcome to ``chain_checked``
(the ``gateway_audit_chain_intact`` metric); a broken chain is logged too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from gateway.errors import GatewayError
from gateway.review import audit
from gateway.review.notify import Notifier
from gateway.review.service import Review, record_event

log = structlog.get_logger("gateway.review")
TICK_SECONDS = 30.0
CHAIN_CHECK_SECONDS = 600.0
RETENTION_ACTOR = "system:retention"


async def upkeep(
    review: Review,
    notifier: Notifier | None,
    retention_days: float,
    digest_hour: int,
    chain_checked: Callable[[bool], None] | None = None,
) -> None:
    """Forever: retry releases, purge old messages, send the digest when due, verify
    the audit chain now and then."""
    checked = -CHAIN_CHECK_SECONDS
    while True:
        try:
            if chain_checked is not None and time.monotonic() - checked >= CHAIN_CHECK_SECONDS:
                checked = time.monotonic()
                chain_checked(await check_chain(review))
            # Several nodes on one store: one of them does the round at a time.
            async with review.store.job("upkeep") as mine:
                if mine:
                    await tick(review, notifier, retention_days, digest_hour)
        except GatewayError as exc:  # a store or upstream hiccup: try again next tick
            log.warning("review upkeep failed", error=exc.__class__.__name__)
        await asyncio.sleep(TICK_SECONDS)


async def check_chain(review: Review) -> bool:
    """True if the audit chain verifies; a broken one is logged (record numbers only)."""
    report = await audit.verify(review.store)
    if not report.ok:
        log.error("audit chain broken", record=report.broken_at, problem=report.problem)
    return report.ok


async def tick(
    review: Review,
    notifier: Notifier | None,
    retention_days: float,
    digest_hour: int,
    now: dt.datetime | None = None,
) -> None:
    """One round of the chores."""
    await review.retry_pending()
    purged = await review.purge(RETENTION_ACTOR, retention_days)
    if purged:
        log.info("retention purge", count=len(purged))
    now = now or dt.datetime.now(dt.UTC)
    if notifier is not None and 0 <= digest_hour == now.hour:
        today = now.date().isoformat()
        row = await review.store.fetch_one("SELECT value FROM meta WHERE name = 'digest_sent'")
        if row is None or row[0] != today:
            await review.store.execute(
                "INSERT INTO meta VALUES ('digest_sent', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (today,),
            )
            held = await review.store.list_held("held", 1)
            await notifier.digest(
                await review.store.count_by_status(), held[0].received_at if held else None
            )


def policy_digest(folder: Path) -> str:
    """SHA-256 over the policy files' names and bytes: changes when any file does."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.y*ml")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


async def audit_policy(review: Review, folder: Path, actor: str) -> None:
    """An audit record when the gateway starts with policies unlike the last ones it ran."""
    digest = policy_digest(folder)
    row = await review.store.fetch_one("SELECT value FROM meta WHERE name = 'policy_digest'")
    if row is not None and row[0] == digest:
        return
    await review.store.execute(
        "INSERT INTO meta VALUES ('policy_digest', ?)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (digest,),
    )
    await record_event(review.store, actor, "policy-change", str(folder), f"sha256 {digest[:16]}")
