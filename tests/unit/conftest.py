"""Event loop housekeeping for the async store tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _current_event_loop() -> Iterator[None]:
    """Give pytest-asyncio a current loop to save and restore, and close it at the end.

    With no current loop, pytest-asyncio's ``asyncio.get_event_loop()`` makes one on
    Python 3.11 that nobody closes; a later ``asyncio.run`` drops it and the garbage
    collector's ResourceWarning fails an unrelated test under ``filterwarnings=error``.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()
