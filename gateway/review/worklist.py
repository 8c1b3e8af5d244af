"""review: a reviewer's search, claims and bulk decisions -> pages, claims, one result
per message.

* A search needs a reader's role; its page unseals only its own rows (``Store.list_page``).
* A claim ("I'm on it") marks a held message as one reviewer's.  A second reviewer's
  claim is refused while it stands, unless they take it over explicitly; either way
  the claim, its release and a take-over (naming whom it was taken from) are audited.
  While a message is claimed, only its claimant may decide it (``Review`` checks);
  a decision, or a critical hold's first approval, ends the claim.
* A bulk decision is the single decision repeated, one message at a time, through the
  same ``Review`` methods, so every rule holds for each message (sender, release once,
  four eyes, claims); what one message refuses is that message's result, not the
  batch's.  A bulk release gives a critical hold at most its first approval: the
  second approver decides each one alone, on its page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.errors import Conflict, NotFound, ReviewError
from gateway.review import audit
from gateway.review.model import READERS, REVIEWERS, User
from gateway.review.service import Review, check_reason, need, outcome_text
from gateway.store.model import ListPage, ListQuery

BulkAction = Literal["release", "reject", "false-positive"]
BULK_ACTIONS: tuple[BulkAction, ...] = ("release", "reject", "false-positive")
#: messages one bulk request decides at most ("all that match" beyond this: run it again)
BULK_LIMIT = 1000


@dataclass(frozen=True)
class BulkResult:
    """What a bulk decision did to one message: ``state`` is ``released``,
    ``approved``, ``pending``, ``refused``, ``rejected``, ``marked`` or ``not-done``
    (a rule or a conflict stopped it; ``text`` says which)."""

    message_id: str
    state: str
    text: str

    @property
    def done(self) -> bool:
        return self.state != "not-done"


async def search(review: Review, user: User, query: ListQuery) -> tuple[ListPage, dict[str, int]]:
    """A page of what ``query`` finds, and how many it finds in each status."""
    need(user, READERS, "see the quarantine")
    page = await review.store.list_page(query)
    return page, await review.store.count_matching(query)


async def matching(review: Review, user: User, query: ListQuery) -> list[str]:
    """The ids of the messages ``query`` finds (at most ``BULK_LIMIT``), for a bulk
    decision on "all that match this search"."""
    need(user, REVIEWERS, "decide held mail")
    return await review.store.matching_ids(query, BULK_LIMIT)


async def claim(review: Review, user: User, message_id: str, take_over: bool = False) -> None:
    """Claim a held message for ``user``; ``Conflict`` if someone else has it (unless
    ``take_over``) or it is not held."""
    need(user, REVIEWERS, "claim held mail")
    current = await review.store.claimed_by(message_id)
    if current is None:
        raise NotFound(f"no message {message_id}")
    holder = current[0]
    if holder == user.name:
        return
    if holder and not take_over:
        raise Conflict(f"{holder} is on it already; take it over to work on it yourself")
    if not await review.store.claim(message_id, user.name, take_over=take_over):
        raise Conflict(f"{message_id} is not held, or someone claimed it meanwhile")
    if holder:
        await audit.record(
            review.store, user.actor, "claim-take-over", message_id, f"from {holder}"
        )
    else:
        await audit.record(review.store, user.actor, "claim", message_id)


async def unclaim(review: Review, user: User, message_id: str) -> None:
    """Give up ``user``'s claim; ``Conflict`` if they do not hold one."""
    need(user, REVIEWERS, "claim held mail")
    if not await review.store.unclaim(message_id, user.name):
        raise Conflict(f"you have not claimed {message_id}")
    await audit.record(review.store, user.actor, "unclaim", message_id)


async def decide_all(
    review: Review,
    user: User,
    action: BulkAction,
    message_ids: list[str],
    reason: str,
) -> list[BulkResult]:
    """``action`` on each message, with one reason; a result per message.  The caller
    has re-authenticated the user for a release."""
    need(user, REVIEWERS, "decide held mail")
    if action not in BULK_ACTIONS:
        raise NotFound(f"no bulk action {action!r}")
    ids = list(dict.fromkeys(message_ids))[:BULK_LIMIT]
    if not ids:
        raise ReviewError("select at least one message")
    reason = check_reason(reason)  # once for all, before anything is decided
    results = []
    for message_id in ids:
        try:
            results.append(await _decide(review, user, action, message_id, reason))
        except ReviewError as exc:
            results.append(BulkResult(message_id, "not-done", str(exc)))
    done = sum(r.done for r in results)
    await audit.record(
        review.store,
        user.actor,
        f"bulk-{action}",
        f"{len(ids)} messages",
        f"{done} done, {len(ids) - done} not done",
    )
    return results


async def _decide(
    review: Review, user: User, action: BulkAction, message_id: str, reason: str
) -> BulkResult:
    if action == "release":
        outcome = await review.release(user, message_id, reason, first_approval_only=True)
        text = outcome_text(outcome).removeprefix(f"{message_id}: ")
        return BulkResult(message_id, outcome.state, text)
    if action == "reject":
        await review.reject(user, message_id, reason)
        return BulkResult(message_id, "rejected", "rejected: it will not be delivered")
    await review.mark_false_positive(user, message_id, reason)
    return BulkResult(message_id, "marked", "marked as a false positive; still held")
