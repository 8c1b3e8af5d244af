"""The running gateway's review chores: retries, retention and the daily digest."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.review import Notifier, NotifySettings, Review, User
from gateway.review.upkeep import RETENTION_ACTOR, tick
from gateway.store import Store

from .conftest import FakeUpstream, held

pytestmark = pytest.mark.asyncio
TEAM = ("team@council.example.gov.uk",)


async def test_a_tick_retries_purges_and_sends_one_digest_a_day(
    review: Review, store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """Pending releases go out, old messages go, the digest goes once at its hour."""
    notifier = Notifier(NotifySettings(review_team=TEAM), upstream)
    pending = await store.hold(held("high"))
    old = await store.hold(held("high", days_old=100))
    upstream.down = True
    await review.release(people["rita"], pending, "ok")
    upstream.down = False
    eight = dt.datetime(2026, 11, 25, 8, 5, tzinfo=dt.UTC)
    await tick(review, notifier, retention_days=90, digest_hour=8, now=eight)
    await tick(review, notifier, retention_days=90, digest_hour=8, now=eight)
    assert await store.summary(old) is None
    released, digest = upstream.sent
    assert pending.encode() in released[2]
    assert (TEAM, True) == (digest[1], b"daily digest" in digest[2])
    await tick(review, notifier, 90, 8, now=eight + dt.timedelta(days=1))
    assert 3 == len(upstream.sent)
    await tick(review, notifier, 90, 8, now=eight + dt.timedelta(days=1, hours=2))
    assert 3 == len(upstream.sent)
    purges = await store.fetch_all("SELECT actor FROM audit WHERE action = 'purge'")
    assert [RETENTION_ACTOR] == [row[0] for row in purges]
