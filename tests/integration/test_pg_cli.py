"""Commands on a shared PostgreSQL store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.pg import PgStore
from tests.pg_support import Server

from .support import CliRun


def test_a_rekey_is_refused_while_nodes_run_on_the_shared_store(
    pg_server: Server, tmp_path: Path, gateway: Callable[..., CliRun]
) -> None:
    """Nodes still sealing with the old key would hold what no node can read: the
    rekey of a shared store waits until every node is stopped."""
    url = pg_server.new_database()
    key = tmp_path / "master.key"
    keys = KeyRing.generate(key)

    async def node_beats() -> None:
        store = await PgStore.open_pg(url, keys)
        try:
            await store.beat(2.0)
        finally:
            await store.close()

    asyncio.run(node_beats())
    refused = gateway("rekey", "--store", url, "--key-file", key)
    assert 2 == refused.status
    assert "stop every node first" in refused.err
    assert keys.id == KeyRing.load(key).id
