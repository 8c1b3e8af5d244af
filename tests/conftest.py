"""Fixtures every test folder may use: the event loop's housekeeping, and the store on
either database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from .pg_support import Server, throwaway_postgres

#: the databases the store tests run against: "" is SQLite (the file in tmp_path)
STORE_KINDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """One throwaway PostgreSQL server for the session; each test takes a database."""
    with throwaway_postgres() as server:
        yield server


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """The store setting for each database: '' (SQLite in the test's folder) or the
    URL of a new PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    server: Server = request.getfixturevalue("pg_server")
    return server.new_database()


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
