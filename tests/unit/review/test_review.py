"""The review rules, as the CLI and the console both get them from ``Review``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from gateway.envelope import Envelope
from gateway.errors import AccessDenied, Conflict, NotFound, ReviewError
from gateway.findings import Match
from gateway.policy import Policy
from gateway.policy.model import Rule
from gateway.review import Notifier, NotifySettings, Review, User, audit
from gateway.scan import ScanResult
from gateway.store import Store
from gateway.verdict import Action, RuleHit, Severity, Verdict

from .conftest import CANARY, RCPT, SENDER, FakeUpstream, held

pytestmark = pytest.mark.asyncio


async def _status(store: Store, message_id: str) -> str:
    summary = await store.summary(message_id)
    assert summary is not None
    return summary.status


async def test_a_reviewer_releases_a_high_hold_once(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """One reviewer releases a non-critical hold: delivered with the release header."""
    message_id = await store.hold(held("high"))
    outcome = await review.release(people["rita"], message_id, "checked with the caseworker")
    assert "released" == outcome.state
    assert "released" == await _status(store, message_id)
    ((mail_from, rcpts, raw),) = upstream.sent
    assert (SENDER, (RCPT,)) == (mail_from, rcpts)
    assert raw.startswith(f"X-Safe-Address-Released: {message_id};".encode())
    assert raw.endswith(f"She lives at {CANARY}.\r\n".encode())
    with pytest.raises(Conflict):
        await review.release(people["rob"], message_id, "again")
    assert 1 == len(upstream.sent)


async def test_a_critical_hold_needs_two_people_the_second_senior(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """First approval waits; the same person or a plain reviewer cannot complete it."""
    message_id = await store.hold(held("critical"))
    assert "approved" == (await review.release(people["rita"], message_id, "ok")).state
    assert ([], "held") == (upstream.sent, await _status(store, message_id))
    with pytest.raises(Conflict):
        await review.release(people["rita"], message_id, "ok again")
    with pytest.raises(AccessDenied):
        await review.release(people["rob"], message_id, "second, not senior")
    assert "released" == (await review.release(people["sue"], message_id, "agreed")).state
    assert 1 == len(upstream.sent)
    assert ["rita", "sue"] == await review.approvals(message_id)


async def test_the_sender_can_never_release(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """A senior reviewer who sent the message can neither approve nor release it."""
    critical = await store.hold(held("critical"))
    high = await store.hold(held("high"))
    for message_id in (critical, high):
        with pytest.raises(AccessDenied, match="sender"):
            await review.release(people["officer"], message_id, "mine")
    await review.release(people["rita"], critical, "first")
    with pytest.raises(AccessDenied):
        await review.release(people["officer"], critical, "second")
    assert [] == upstream.sent


async def test_roles_are_checked_for_every_action(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """Auditors read but do not act; admins neither read mail nor act."""
    message_id = await store.hold(held("high"))
    assert message_id == (await review.open(people["aud"], message_id)).id
    for action in (review.release, review.reject, review.mark_false_positive):
        with pytest.raises(AccessDenied):
            await action(people["aud"], message_id, "no")
    with pytest.raises(AccessDenied):
        await review.open(people["ada"], message_id)
    with pytest.raises(AccessDenied):
        await review.audit_log(people["rita"])


async def test_every_action_needs_a_reason(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """Blank reasons are refused before anything changes."""
    message_id = await store.hold(held("high"))
    for action in (review.release, review.reject, review.mark_false_positive):
        with pytest.raises(ReviewError, match="reason"):
            await action(people["rita"], message_id, "  \n ")
    assert "held" == await _status(store, message_id)


async def test_two_simultaneous_releases_deliver_once(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """Two reviewers pressing at the same moment: one release, one Conflict."""
    message_id = await store.hold(held("high"))
    results = await asyncio.gather(
        review.release(people["rita"], message_id, "a"),
        review.release(people["rob"], message_id, "b"),
        return_exceptions=True,
    )
    assert 1 == sum(isinstance(r, Conflict) for r in results)
    assert 1 == len(upstream.sent)


async def test_a_refused_release_stays_pending_and_is_retried(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """Upstream down: the message stays 'releasing'; the retry delivers it once."""
    message_id = await store.hold(held("high"))
    upstream.down = True
    assert "pending" == (await review.release(people["rita"], message_id, "ok")).state
    assert "releasing" == await _status(store, message_id)
    assert ["pending"] == [o.state for o in await review.retry_pending()]
    pending = await store.get(message_id)
    assert pending is not None
    assert 2 == pending.attempts
    upstream.down = False
    assert ["released"] == [o.state for o in await review.retry_pending()]
    assert [] == await review.retry_pending()
    assert (1, "released") == (len(upstream.sent), await _status(store, message_id))


async def test_reject_and_false_positive_are_recorded(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """Reject stops the message; the mark is kept; both are in the audit chain."""
    message_id = await store.hold(held("high"))
    await review.mark_false_positive(people["rita"], message_id, "a street of the same name")
    await review.reject(people["rob"], message_id, "wrong recipient")
    summary = await store.summary(message_id)
    assert summary is not None
    assert ("rejected", True) == (summary.status, summary.false_positive)
    with pytest.raises(Conflict):
        await review.release(people["sue"], message_id, "too late")
    actions = [(r.actor, r.action) for r in await audit.records(store, target=message_id)]
    assert [("user:rita", "false-positive"), ("user:rob", "reject")] == actions
    assert [] == upstream.sent


async def test_views_and_exports_are_audited(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """Opening and exporting held mail leave audit records; unknown ids are NotFound."""
    message_id = await store.hold(held("high"))
    await review.open(people["aud"], message_id)
    raw = await review.export(people["aud"], message_id)
    assert CANARY.encode() in raw
    actions = [r.action for r in await review.audit_log(people["aud"], target=message_id)]
    assert ["view", "export"] == actions
    with pytest.raises(NotFound):
        await review.open(people["aud"], "Q0000")


async def test_purge_deletes_old_messages_and_keeps_their_audit(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """Retention: old messages go, new ones stay, each purge is an audit record."""
    old = await store.hold(held("high", days_old=40))
    new = await store.hold(held("high"))
    await review.open(people["rita"], old)
    assert [old] == await review.purge("system:retention", 30)
    assert (None, "held") == (await store.summary(old), await _status(store, new))
    actions = [r.action for r in await audit.records(store, target=old)]
    assert ["view", "purge"] == actions
    assert (await audit.verify(store)).ok


async def test_the_list_puts_the_most_severe_first_then_the_oldest(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """Critical before high, oldest first within each; the limit keeps the most severe."""
    old_high = await store.hold(held("high", days_old=2))
    old_critical = await store.hold(held("critical", days_old=1))
    new_critical = await store.hold(held("critical"))
    listed = [m.id for m in await review.messages(people["rita"])]
    assert [old_critical, new_critical, old_high] == listed
    assert [old_critical] == [m.id for m in await review.messages(people["rita"], limit=1)]


async def test_a_release_refused_for_good_is_held_again(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """A 5xx from the upstream: not retried, held again with the why in the audit, and
    the two approvals of a critical hold start over."""
    message_id = await store.hold(held("critical"))
    await review.release(people["rita"], message_id, "first")
    upstream.refusing = True
    outcome = await review.release(people["sue"], message_id, "second")
    assert ("refused", "held") == (outcome.state, await _status(store, message_id))
    assert ([], []) == (await review.approvals(message_id), await review.retry_pending())
    (last,) = (await audit.records(store, target=message_id))[-1:]
    assert ("release-refused", "the upstream refused the recipient (550)") == (
        last.action,
        last.reason,
    )
    upstream.refusing = False
    assert "approved" == (await review.release(people["rita"], message_id, "again")).state
    assert "released" == (await review.release(people["sue"], message_id, "again")).state
    assert 1 == len(upstream.sent)


@dataclass
class FakeRescan:
    """A ``Rescanner`` whose scan fires ``fires`` (rule ids), counting its calls."""

    policy: Policy
    fires: tuple[str, ...] = ()
    calls: int = 0

    async def __call__(self, envelope: Envelope) -> ScanResult:
        self.calls += 1
        hits = tuple(RuleHit(r, Action.QUARANTINE, Severity.HIGH, False, "") for r in self.fires)
        action = Action.QUARANTINE if hits else Action.DELIVER
        return ScanResult(Verdict(action, Severity.HIGH, hits), Match(()), 1.0)


def _policy(release: str) -> Policy:
    if release == "unknown":  # the rule that held the message is gone from the policy
        return Policy(())
    rule = {
        "id": "restricted-recipient-protected-data",
        "action": "quarantine",
        "severity": "high",
        "release": release,
        "when": {"recipient": ["restricted"], "findings": ["address"]},
    }
    return Policy((Rule.model_validate(rule),))


@pytest.mark.parametrize(
    ("release", "fires", "outcome", "calls"),
    [
        ("direct", ("external-recipient-protected-address",), "released", 0),
        ("rescan", ("restricted-recipient-protected-data",), "released", 1),
        ("rescan", (), "released", 1),
        ("rescan", ("external-recipient-protected-address",), "stopped", 1),
        ("unknown", ("external-recipient-protected-address",), "stopped", 1),
    ],
    ids=["direct-never-rescans", "same-rules", "nothing-now", "new-rule-stops", "unknown-rule"],
)
async def test_rules_asking_for_a_rescan_stop_releases_that_catch_something_new(
    review: Review,
    store: Store,
    upstream: FakeUpstream,
    people: dict[str, User],
    release: str,
    fires: tuple[str, ...],
    outcome: str,
    calls: int,
) -> None:
    """Only ``release: rescan`` rescans; only a rule that did not hold it stops it."""
    review.rescan = rescan = FakeRescan(_policy(release), fires)
    message_id = await store.hold(held("high"))
    if outcome == "stopped":
        with pytest.raises(Conflict, match="external-recipient-protected-address"):
            await review.release(people["rita"], message_id, "ok")
        assert ("held", []) == (await _status(store, message_id), upstream.sent)
    else:
        assert outcome == (await review.release(people["rita"], message_id, "ok")).state
    assert calls == rescan.calls


async def test_a_retry_never_overlaps_a_delivery_under_way(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """While a release is being delivered, the retry loop leaves the message alone."""
    message_id = await store.hold(held("high"))
    gate = asyncio.Event()
    slow_calls: list[str] = []

    async def slow(mail_from: str, rcpt_tos: Sequence[str], message: bytes) -> None:
        slow_calls.append(mail_from)
        await gate.wait()
        await upstream(mail_from, rcpt_tos, message)

    review.deliver = slow
    releasing = asyncio.create_task(review.release(people["rita"], message_id, "ok"))
    await asyncio.sleep(0.05)
    assert [] == await asyncio.wait_for(review.retry_pending(), 2)
    gate.set()
    assert "released" == (await releasing).state
    assert (1, 1) == (len(slow_calls), len(upstream.sent))


async def test_a_rejection_notice_never_carries_the_audit_reason(
    store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """The reason (which may quote the message) stays in the sealed audit log; the
    sender gets only the note written for them, or a fixed text."""
    review = Review(store, upstream, Notifier(NotifySettings(), upstream))
    for note in ("Please use the secure portal.", ""):
        message_id = await store.hold(held("high"))
        await review.reject(people["rita"], message_id, f"quotes {CANARY}", True, note)
    first, second = (raw for _, _, raw in upstream.sent)
    assert b"Please use the secure portal." in first
    assert b"Note from the reviewer" not in second
    assert all(CANARY.encode() not in raw for _, _, raw in upstream.sent)
