"""Search, claims and bulk decisions through ``Review``: the single decision's rules
hold for each message of a bulk decision, with a result per message."""

from __future__ import annotations

import pytest

from gateway.errors import AccessDenied, Conflict, ReviewError
from gateway.review import Review, User, audit, worklist
from gateway.store import Store
from gateway.store.model import ListQuery

from .conftest import SENDER, FakeUpstream, held

pytestmark = pytest.mark.asyncio
REASON = "all to the same landlord, checked"


async def _status(store: Store, message_id: str) -> str:
    summary = await store.summary(message_id)
    assert summary is not None
    return summary.status


async def test_bulk_reject_gives_a_result_per_message(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """Each message is rejected on its own; one claimed by another reviewer is left."""
    ids = [await store.hold(held()) for _ in range(4)]
    await worklist.claim(review, people["rob"], ids[1])
    results = await worklist.decide_all(review, people["rita"], "reject", ids, REASON)
    assert ["rejected", "not-done", "rejected", "rejected"] == [r.state for r in results]
    assert "rob is on it" in results[1].text
    assert ["rejected", "held", "rejected", "rejected"] == [await _status(store, i) for i in ids]
    actions = [(r.action, r.target) for r in await audit.records(store)]
    assert ("bulk-reject", "4 messages") == actions[-1]
    assert 3 == sum(1 for a, _ in actions if a == "reject")


async def test_bulk_release_leaves_critical_holds_for_their_second_approver(
    review: Review, store: Store, people: dict[str, User], upstream: FakeUpstream
) -> None:
    """A bulk release sends high holds, gives critical ones only a first approval, never a
    second one, and never releases the user's own message."""
    high, critical, approved = (
        await store.hold(held()),
        await store.hold(held("critical")),
        await store.hold(held("critical")),
    )
    assert "approved" == (await review.release(people["rita"], approved, REASON)).state
    own = await store.hold(held(sender="sue@council.example.gov.uk"))
    results = await worklist.decide_all(
        review, people["sue"], "release", [high, critical, approved, own], REASON
    )
    assert ["released", "approved", "not-done", "not-done"] == [r.state for r in results]
    assert "one message at a time" in results[2].text
    assert "sender" in results[3].text
    assert 1 == len(upstream.sent)
    assert ["released", "held", "held", "held"] == [
        await _status(store, i) for i in (high, critical, approved, own)
    ]
    # one at a time, the senior gives the second approval
    assert "released" == (await review.release(people["sue"], approved, REASON)).state


async def test_bulk_needs_a_reason_and_a_reviewer(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """No reason: nothing is decided; an auditor may not decide."""
    message_id = await store.hold(held())
    with pytest.raises(ReviewError, match="reason"):
        await worklist.decide_all(review, people["rita"], "reject", [message_id], "  ")
    with pytest.raises(AccessDenied):
        await worklist.decide_all(review, people["aud"], "reject", [message_id], REASON)
    assert "held" == await _status(store, message_id)


async def test_a_claim_is_refused_to_a_second_reviewer_unless_taken_over(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """rita claims; rob's claim and decision are refused until he takes it over, which
    the audit log records with whom it was taken from."""
    message_id = await store.hold(held())
    rita, rob = people["rita"], people["rob"]
    await worklist.claim(review, rita, message_id)
    with pytest.raises(Conflict, match="rita is on it"):
        await worklist.claim(review, rob, message_id)
    with pytest.raises(Conflict, match="rita is on it"):
        await review.reject(rob, message_id, REASON)
    await worklist.claim(review, rob, message_id, take_over=True)
    with pytest.raises(Conflict):
        await worklist.unclaim(review, rita, message_id)
    page, _ = await worklist.search(review, rita, ListQuery(claimed="rob"))
    assert [message_id] == [r.summary.id for r in page.rows]
    await review.reject(rob, message_id, REASON)
    trail = [(r.actor, r.action, r.reason) for r in await audit.records(store, target=message_id)]
    assert [
        ("user:rita", "claim", ""),
        ("user:rob", "claim-take-over", "from rita"),
        ("user:rob", "reject", REASON),
    ] == trail


async def test_the_sender_is_found_by_any_form_of_the_address(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """A search by sender matches the canonical address (case and plus-tags aside)."""
    message_id = await store.hold(held())
    local, domain = SENDER.split("@")
    typed = f"{local.upper()}+tag@{domain}"
    page, counts = await worklist.search(review, people["rita"], ListQuery(sender=typed))
    assert [message_id] == [r.summary.id for r in page.rows]
    assert 1 == counts["held"]
