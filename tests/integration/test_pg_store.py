"""Several nodes on one PostgreSQL store, in one process: each node is a ``PgStore`` of
its own (its own pool of connections), as two gateway processes would have.

What SQLite gets from having one writer, the nodes must get from the database: one
winner of a compare-and-set, one audit chain, register changes seen by every node, one
node at a time on a chore, and a database outage that the store reports and survives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import KeyRing
from gateway.errors import ConfigError
from gateway.review import Review, audit
from gateway.service import import_at_start
from gateway.settings import Settings
from gateway.store import Store, StoreError
from gateway.store.pg import PgStore
from gateway.store.pg_schema import PG_MIGRATIONS
from tests.pg_support import Server, throwaway_postgres
from tests.unit.review.conftest import FakeUpstream, held

pytestmark = pytest.mark.asyncio

REGISTER = Path(__file__).resolve().parents[2].parent / "shared" / "contracts"
EXAMPLE = REGISTER / "register.example.yaml"


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    return KeyRing.generate(tmp_path / "master.key")


@pytest_asyncio.fixture
async def nodes(pg_server: Server, keys: KeyRing) -> AsyncIterator[tuple[Store, Store]]:
    """Two nodes on a new database, with the same master key."""
    url = pg_server.new_database()
    first = await PgStore.open_pg(url, keys)
    second = await PgStore.open_pg(url, keys)
    yield first, second
    await first.close()
    await second.close()


async def test_a_hold_on_one_node_is_read_on_the_other(nodes: tuple[Store, Store]) -> None:
    """The quarantine is one: what node A holds, node B lists and opens whole."""
    a, b = nodes
    message = held()
    await a.hold(message)
    assert message == await b.get(message.id)
    assert [message.id] == [s.id for s in await b.list_held("held")]


@given(attempts=st.lists(st.sampled_from("ab"), min_size=2, max_size=24))
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_a_message_leaves_held_once_whichever_nodes_race(
    nodes: tuple[Store, Store], attempts: list[str]
) -> None:
    """Any number of reviewers on either node pressing at once: exactly one wins."""
    a, b = nodes
    message = held()
    await a.hold(message)
    by = {"a": a, "b": b}
    won = await asyncio.gather(
        *(by[n].transition(message.id, "held", "releasing") for n in attempts)
    )
    assert 1 == sum(won)
    assert "releasing" == (await b.summary(message.id) or held()).status


async def test_one_audit_chain_with_writers_on_both_nodes(nodes: tuple[Store, Store]) -> None:
    """Records appended at once from both nodes make one chain that verifies."""
    a, b = nodes
    writes = [
        audit.record(node, f"user:{name}{i}", "view", f"Q{i}")
        for i in range(20)
        for name, node in (("a", a), ("b", b))
    ]
    seqs = await asyncio.gather(*writes)
    assert list(range(1, 41)) == sorted(seqs)
    report = await audit.verify(b)
    assert (True, 40) == (report.ok, report.records)


async def test_a_register_import_on_one_node_wakes_the_other(nodes: tuple[Store, Store]) -> None:
    """Node B, waiting for a change, wakes when node A's import commits, long before
    its polling time-out."""
    a, b = nodes
    waiting = asyncio.create_task(b.wait_for_change(60.0))
    await asyncio.sleep(0)  # B listens before A imports
    for _ in range(100):  # until B's LISTEN is in place
        if b._listener is not None:
            break
        await asyncio.sleep(0.05)
    started = time.monotonic()
    await a.import_register(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    await asyncio.wait_for(waiting, timeout=30)
    assert time.monotonic() - started < 5.0
    assert 1 == await b.register_version()


async def test_register_versions_from_both_nodes_at_once_are_numbered_in_turn(
    nodes: tuple[Store, Store],
) -> None:
    """Imports racing on two nodes each get their own version, none lost."""
    a, b = nodes
    text = EXAMPLE.read_text(encoding="utf-8")
    made = await asyncio.gather(*(n.import_register(text, "r.yaml") for n in (a, b, a, b)))
    assert [1, 2, 3, 4] == sorted(made)


async def test_a_chore_runs_on_one_node_at_a_time(nodes: tuple[Store, Store]) -> None:
    """While node A runs the upkeep round, node B is told it is not its turn; then it is."""
    a, b = nodes
    async with a.job("upkeep") as mine_a, b.job("upkeep") as mine_b:
        assert (True, False) == (mine_a, mine_b)
    async with b.job("upkeep") as mine_b:
        assert mine_b


async def test_a_release_left_half_done_by_a_dead_node_is_finished_once(
    nodes: tuple[Store, Store],
) -> None:
    """A message a node left ``releasing`` (it died before the upstream took it) is
    delivered once by the other nodes' retries, however many try at once."""
    a, b = nodes
    message = held()
    await a.hold(message)
    assert await a.transition(message.id, "held", "releasing")  # then node A died
    upstream = FakeUpstream()
    reviews = [Review(node, upstream, retry_after=0.0) for node in (b, b, a)]
    await asyncio.sleep(0.01)  # the release is now older than retry_after
    await asyncio.gather(*(r.retry_pending() for r in reviews))
    assert 1 == len(upstream.sent)
    assert upstream.sent[0][2].endswith(message.raw)
    assert "released" == (await b.summary(message.id) or held()).status


async def test_a_node_with_another_key_is_refused(pg_server: Server, tmp_path: Path) -> None:
    """Every node must have the key that sealed the store: another is refused at open."""
    url = pg_server.new_database()
    await (await PgStore.open_pg(url, KeyRing.generate(tmp_path / "one.key"))).close()
    with pytest.raises(ConfigError, match="not the key"):
        await PgStore.open_pg(url, KeyRing.generate(tmp_path / "two.key"))


async def test_four_nodes_starting_at_once_make_the_schema_once(
    pg_server: Server, keys: KeyRing
) -> None:
    """Nodes that start together on a new database: one makes the schema and the
    genesis, the others wait and use it."""
    url = pg_server.new_database()
    stores = await asyncio.gather(*(PgStore.open_pg(url, keys) for _ in range(4)))
    try:
        report = await audit.verify(stores[3])
        assert (True, 0) == (report.ok, report.records)
        rows = await stores[0].fetch_all("SELECT version FROM schema_version")
        assert [version for version, _ in PG_MIGRATIONS] == sorted(row[0] for row in rows)
    finally:
        for store in stores:
            await store.close()


async def test_a_database_outage_is_a_store_error_and_recovers_without_reopening(
    keys: KeyRing,
) -> None:
    """With the database down, a hold fails with StoreError (SMTP answers 4xx, the
    client keeps the message); once it is back, the same open store holds again."""
    with throwaway_postgres() as server:
        store = await PgStore.open_pg(server.new_database(), keys)
        try:
            await store.hold(before := held())
            server.stop("fast")
            started = time.monotonic()
            with pytest.raises(StoreError):
                await store.hold(held())
            assert time.monotonic() - started < 60
            server.start()
            after = held()
            for _ in range(60):  # the pool finds its connections broken and makes new ones
                try:
                    await store.hold(after)
                    break
                except StoreError:
                    await asyncio.sleep(0.5)
            assert [before.id, after.id] == [s.id for s in await store.list_held("held")]
        finally:
            await store.close()


async def test_the_listing_and_rule_counts_read_json_on_postgresql(
    nodes: tuple[Store, Store],
) -> None:
    """The case filter and the rule counts read the messages' JSON in the database's
    own dialect."""
    a, _ = nodes
    message = held()
    await a.hold(message)
    case = str(message.findings[0]["case"])
    assert [message.id] == [s.id for s in await a.list_held(case=case)]
    assert [] == await a.list_held(case="NO-SUCH-CASE")
    assert dict.fromkeys(message.rules, 1) == await a.rule_counts()
    assert {} == await a.rule_counts(false_positive_only=True)
    since = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert [] == await a.list_held(since=since)


async def test_nodes_starting_together_with_one_register_file_import_it_once(
    pg_server: Server, keys: KeyRing
) -> None:
    """Four nodes started at once with the same --register file make one version."""
    url = pg_server.new_database()
    stores = [await PgStore.open_pg(url, keys) for _ in range(4)]
    try:
        settings = Settings(register=EXAMPLE, store=url)
        await asyncio.gather(*(import_at_start(s, EXAMPLE, settings) for s in stores))
        assert [1] == [v.version for v in await stores[0].register_versions()]
    finally:
        for store in stores:
            await store.close()
