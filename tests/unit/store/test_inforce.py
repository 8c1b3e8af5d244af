"""The store's record of the register version in force and of the running gateway."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.crypto import KeyRing
from gateway.store import Store
from gateway.store.inforce import HEARTBEAT, STALE_MIN_S, Heartbeat
from tests.store_support import open_test_store

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
EXAMPLE = SHARED / "contracts" / "register.example.yaml"


@pytest_asyncio.fixture
async def store(tmp_path: Path, store_url: str) -> AsyncIterator[Store]:
    """An open store on each database, with its own key, closed after the test."""
    keys = KeyRing.generate(tmp_path / "keys" / "master.key")
    opened = await open_test_store(store_url, tmp_path, keys)
    yield opened
    await opened.close()


@pytest.mark.asyncio
async def test_the_version_in_force_is_none_until_recorded_and_then_the_latest(
    store: Store,
) -> None:
    """Nothing is in force in a new store; each record replaces the one before."""
    assert await store.in_force() is None
    await store.record_in_force(1, "register.yaml")
    await store.record_in_force(2, "new.yaml")
    now = await store.in_force()
    assert now is not None
    assert (2, "new.yaml") == (now.version, now.source)
    assert now.since.tzinfo is not None


@pytest.mark.asyncio
async def test_a_heartbeat_is_alive_while_fresh_and_gone_once_ended(store: Store) -> None:
    """A beat is alive now and stale long after; ending it removes it."""
    assert await store.heartbeat() is None
    await store.beat(2.0)
    beat = await store.heartbeat()
    assert beat is not None
    assert (2.0, os.getpid()) == (beat.every, beat.pid)
    assert beat.alive()
    assert not beat.alive(now=beat.at + STALE_MIN_S + 1)
    await store.end_heartbeat()
    assert await store.heartbeat() is None


@pytest.mark.asyncio
async def test_ending_leaves_another_gateways_heartbeat_alone(store: Store) -> None:
    """A gateway that stops removes its own beat, not one another process wrote since."""
    other = json.dumps({"at": time.time(), "every": 2.0, "pid": 1, "host": "other"})
    await store.execute("INSERT INTO meta VALUES (?, ?)", (HEARTBEAT, other))
    await store.end_heartbeat()
    beat = await store.heartbeat()
    assert beat is not None
    assert (1, "other") == (beat.pid, beat.host)


def test_a_slow_beat_is_given_a_few_intervals_before_it_is_stale() -> None:
    """A gateway beating every 10 s is still alive 40 s after its beat, not at 60 s."""
    beat = Heartbeat(at=1000.0, every=10.0, pid=1, host="h")
    assert (True, False) == (beat.alive(now=1040.0), beat.alive(now=1060.0))


@pytest.mark.asyncio
async def test_register_origin_names_the_source_of_a_version(store: Store) -> None:
    """The source a version was imported from; '' for a version that does not exist."""
    await store.import_register(EXAMPLE.read_text(encoding="utf-8"), "cases-may.yaml")
    assert ("cases-may.yaml", "") == (
        await store.register_origin(1),
        await store.register_origin(2),
    )
