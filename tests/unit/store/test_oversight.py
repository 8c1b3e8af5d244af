"""The oversight reads (oldest held message, today's times to decision) on each
database, and the console's sentences made of them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.console.oversight import duration_words, oversight_lines
from gateway.crypto import KeyRing
from gateway.store import Store, new_message_id
from tests.store_support import open_test_store
from tests.unit.store.test_store import _message

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def store(tmp_path: Path, store_url: str) -> AsyncIterator[Store]:
    """A new store on each database (SQLite, PostgreSQL), closed after the test."""
    opened = await open_test_store(store_url, tmp_path, KeyRing.generate(tmp_path / "key"))
    yield opened
    await opened.close()


async def _hold(store: Store, received: dt.datetime) -> str:
    message = dataclasses.replace(_message(), id=new_message_id(), received_at=received)
    return await store.hold(message)


async def test_the_oldest_held_message_is_the_one_waiting_longest(store: Store) -> None:
    """Released or rejected messages do not count; none held is None."""
    assert await store.oldest_held() is None
    early = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    first = await _hold(store, early)
    await _hold(store, early + dt.timedelta(hours=3))
    assert early == await store.oldest_held()
    assert await store.transition(first, "held", "rejected")
    assert early + dt.timedelta(hours=3) == await store.oldest_held()


async def test_decision_times_are_those_decided_since_the_moment(store: Store) -> None:
    """A message held an hour ago and rejected now took about an hour; a held one has none."""
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    decided = await _hold(store, hour_ago)
    await _hold(store, hour_ago)
    assert await store.transition(decided, "held", "rejected")
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    (seconds,) = await store.decision_seconds(min(midnight, hour_ago))
    assert 3600 <= seconds < 3600 + 600
    assert [] == await store.decision_seconds(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


async def test_the_console_sentences(store: Store) -> None:
    """The oldest held message's age in words, and no decisions yet today."""
    now = dt.datetime.now(dt.UTC)
    assert ("none held", "no decisions yet") == dataclasses.astuple(
        await oversight_lines(store, now)
    )
    await _hold(store, now - dt.timedelta(hours=3, minutes=12, seconds=5))
    lines = await oversight_lines(store, now)
    assert "3 h 12 min" == lines.oldest_held


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (45.7, "45 s"), (720, "12 min"), (11520, "3 h 12 min"), (187200, "2 d 4 h")],
)
async def test_durations_read_as_words(seconds: float, words: str) -> None:
    """Seconds, minutes, hours and minutes, days and hours."""
    assert words == duration_words(seconds)
