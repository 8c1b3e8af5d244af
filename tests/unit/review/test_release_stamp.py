"""A release carries the gateway's stamp, saying it was released, on top."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.review import Review, User
from gateway.settings import Settings
from gateway.stamp import Stamp
from gateway.store import Store

from .conftest import CANARY, FakeUpstream, held

pytestmark = pytest.mark.asyncio

STAMP = Stamp("X-Safe-Address-Gateway", "gateway.council.test", 3, 50)


async def test_a_released_message_carries_one_released_stamp_on_top(
    store: Store, upstream: FakeUpstream, people: dict[str, User]
) -> None:
    """``released by HOST; id=ID; date`` first, then the release header, then the
    message as held; the stamp carries nothing of the message."""
    review = Review(store, upstream, retry_after=0.0, stamp=STAMP)
    message_id = await store.hold(held("high"))
    await review.release(people["rita"], message_id, "checked with the caseworker")
    ((_, _, raw),) = upstream.sent
    first, second, _ = raw.split(b"\r\n", 2)
    expected = f"X-Safe-Address-Gateway: released by gateway.council.test; id={message_id}; "
    assert first.startswith(expected.encode())
    assert CANARY.encode() not in first
    assert second.startswith(f"X-Safe-Address-Released: {message_id};".encode())
    assert 1 == STAMP.hops(raw).stamps


async def test_the_review_takes_its_stamp_from_the_settings(store: Store) -> None:
    """The header name and hostname of the running gateway's settings."""
    settings = replace(Settings(), hostname="gw.test", stamp_header="X-Council-Gateway")
    review = Review.from_settings(store, settings)
    assert Stamp("X-Council-Gateway", "gw.test", 3, 50) == review.stamp
