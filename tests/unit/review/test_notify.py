"""Notices: to the team and the sender only, never carrying message content."""

from __future__ import annotations

import datetime as dt
import email

import pytest

from gateway.review import Notifier, NotifySettings

from .conftest import CANARY, RCPT, SENDER, FakeUpstream, held

pytestmark = pytest.mark.asyncio
TEAM = ("review-team@council.example.gov.uk",)


def _notifier(upstream: FakeUpstream, sender_on_hold: bool = True) -> Notifier:
    return Notifier(
        NotifySettings(
            "gateway@council.example.gov.uk", TEAM, "https://gw.example:8443", sender_on_hold
        ),
        upstream,
    )


async def test_a_hold_tells_the_team_and_the_sender_never_the_recipient(
    upstream: FakeUpstream,
) -> None:
    """Two notices: team (severity, link) and sender; none to the recipient, no content."""
    message = held("critical")
    await _notifier(upstream).held(message)
    assert [TEAM, (SENDER,)] == [rcpts for _, rcpts, _ in upstream.sent]
    team, _sender = (email.message_from_bytes(raw) for _, _, raw in upstream.sent)
    assert "severity critical (1 waiting)" in str(team["Subject"])
    assert f"https://gw.example:8443/messages/{message.id}" in team.get_payload()
    for _, rcpts, raw in upstream.sent:
        assert RCPT not in rcpts
        assert CANARY.encode() not in raw
        assert RCPT.encode() not in raw
        assert b"Subject: x" not in raw  # not even the held message's subject


async def test_sender_notice_is_optional_and_team_may_be_empty(upstream: FakeUpstream) -> None:
    """No team and no sender notice configured: nothing is sent."""
    quiet = Notifier(NotifySettings(), upstream)
    await quiet.held(held())
    await _notifier(upstream, sender_on_hold=False).held(held())
    assert [TEAM] == [rcpts for _, rcpts, _ in upstream.sent]


async def test_a_rejection_notice_carries_the_note_for_the_sender(upstream: FakeUpstream) -> None:
    """The sender gets the reviewer's note for them; the recipient learns nothing."""
    await _notifier(upstream).rejected(held(), "Use the secure portal for this.")
    ((_, rcpts, raw),) = upstream.sent
    assert (SENDER,) == rcpts
    assert b"Use the secure portal for this." in raw


async def test_a_failed_notice_does_not_raise(upstream: FakeUpstream) -> None:
    """The upstream refusing a notice is logged, never raised into the hold."""
    upstream.down = True
    await _notifier(upstream).held(held())
    await _notifier(upstream).digest({"held": 2}, dt.datetime.now(dt.UTC))
    assert [] == upstream.sent
