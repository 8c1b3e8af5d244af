"""Fixtures every test folder may use: the store on either database."""

from __future__ import annotations

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
