"""Who has approved a critical hold, as the message page asks to hide Release."""

from __future__ import annotations

import pytest

from gateway.console.decision import _release_block
from gateway.review import Review, User
from gateway.store import Store

from .conftest import held

pytestmark = pytest.mark.asyncio


async def test_only_the_approver_has_approved(
    review: Review, store: Store, people: dict[str, User]
) -> None:
    """After rita's approval, rita has approved and sue has not; the page offers rita no
    release, rob (no senior) none either, and sue, a senior reviewer, one."""
    message = held("critical")
    message_id = await store.hold(message)
    assert not await review.has_approved(people["rita"], message_id)
    assert "" == _release_block(people["rita"], message, [], False)

    await review.release(people["rita"], message_id, "checked")
    assert await review.has_approved(people["rita"], message_id)
    assert not await review.has_approved(people["sue"], message_id)
    approvers = await review.approvals(message_id)
    assert _release_block(people["rita"], message, approvers, True).startswith("You approved this")
    assert "senior reviewer" in _release_block(people["rob"], message, approvers, False)
    assert "" == _release_block(people["sue"], message, approvers, False)
