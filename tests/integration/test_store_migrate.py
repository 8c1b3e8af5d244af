"""``gateway store migrate``: a single node's SQLite store moved into a new database of a
throwaway PostgreSQL server, through ``gateway.cli.main`` (and ``move_store`` itself)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import KeyRing
from gateway.errors import ConfigError, LoginFailed
from gateway.review import accounts, audit
from gateway.review.model import Role
from gateway.store import STATUSES, HeldMessage, Status, Store, new_message_id
from gateway.store import move as move_module
from gateway.store.move import move_store
from gateway.store.pg import PgStore
from gateway.store.registers import Origin
from tests.pg_support import Server
from tests.store_support import stored_bytes

from .support import CliRun

Gateway = Callable[..., CliRun]

EXAMPLE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "contracts" / "register.example.yaml"
)
PASSWORD = "a long test password"
CANARY = "14 Larkspur Close"  # stands for a protected address in the held messages
URL_PASSWORD = "not-to-be-printed"
#: what the source's meta holds about its running gateway, which does not move
NODE_ROWS = ("serve_heartbeat", "register_in_force")


@dataclasses.dataclass(frozen=True)
class Source:
    """A filled SQLite store, closed: its file, key, messages and bob's TOTP secret."""

    path: Path
    key_file: Path
    messages: tuple[HeldMessage, ...]
    totp: str


def _message(status: Status, n: int, raw: bytes | None = None) -> HeldMessage:
    body = f"From: a@example.org\r\nTo: b@example.net\r\n\r\nFlat {n}, {CANARY}\r\n"
    return HeldMessage(
        id=new_message_id(),
        received_at=dt.datetime(2025, 5, 1, 9, n, tzinfo=dt.UTC),
        mail_from="a@example.org",
        rcpt_tos=("b@example.net", f"c{n}@example.net"),
        raw=body.encode() if raw is None else raw,
        action="quarantine",
        severity="critical" if n % 2 else "high",
        rules=("protected-address-to-restricted",),
        findings=[{"kind": "protected_address", "case": "DA-2025-0142", "score": 97.5}],
        evidence=[{"finding": 0, "location": "body", "start": 0, "end": 17, "text": CANARY}],
        status=status,
    )


async def _fill(path: Path, keys: KeyRing) -> tuple[tuple[HeldMessage, ...], str]:
    """Messages in every status (one of 50 KB, not text), two register versions, two
    accounts (one with TOTP, one with an alias), approvals, audit records with sealed
    reasons, a session, and the running gateway's rows in meta."""
    async with await Store.open(path, keys) as store:
        large = _message("held", 59, b"\xff\x00binary" * 7000)
        built = [_message(status, n) for n, status in enumerate(STATUSES * 2)] + [large]
        for message in built:
            await store.hold(message)
        await store.execute(
            "UPDATE messages SET false_positive = 1, attempts = 2 WHERE id = ?", (built[1].id,)
        )
        text = EXAMPLE.read_text()
        origin = Origin("cli:test", "import", str(EXAMPLE), "digest", file=str(EXAMPLE))
        await store.import_register(text, str(EXAMPLE), origin)
        await store.import_register(text, str(EXAMPLE))
        await store.record_in_force(2, str(EXAMPLE))
        await store.beat(5.0)
        alice = await accounts.add_user(
            store, "alice", "alice@example.org", frozenset({Role.REVIEWER}), PASSWORD,
            aliases=("a.smith@example.org",),
        )  # fmt: skip
        bob = await accounts.add_user(
            store, "bob", "bob@example.org", frozenset({Role.SENIOR}), PASSWORD
        )
        secret, _ = accounts.new_totp("bob")
        await accounts.set_totp(store, "bob", secret)
        for user in (alice, bob):
            await store.execute(
                'INSERT INTO approvals (message_id, "user", at, user_id) VALUES (?, ?, ?, ?)',
                (built[0].id, user.name, "2025-05-01T10:00:00+00:00", user.id),
            )
            await audit.record(store, user.actor, "approve", built[0].id, f"{CANARY} is fine")
        await audit.record(store, "cli:test", "reject", built[3].id)
        await accounts.start_session(store, alice)
        stored = [await store.get(message.id) for message in built]
    return tuple(m for m in stored if m is not None), secret


@pytest.fixture(autouse=True)
def _no_gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's GATEWAY_* variables must not steer these tests."""
    for name in ("GATEWAY_DATA_DIR", "GATEWAY_KEY_FILE", "GATEWAY_STORE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def source(tmp_path: Path) -> Source:
    """A filled SQLite store under ``tmp_path/data``, sealed with ``tmp_path/master.key``."""
    key_file = tmp_path / "master.key"
    path = tmp_path / "data" / "gateway.sqlite3"
    messages, totp = asyncio.run(_fill(path, KeyRing.generate(key_file)))
    return Source(path, key_file, messages, totp)


@pytest.fixture
def target(pg_server: Server) -> str:
    """A new database's URL, with a password (the server trusts loopback, and ignores it)."""
    return pg_server.new_database().replace("postgres@", f"postgres:{URL_PASSWORD}@")


def _migrate(gateway: Gateway, source: Source, target: str, *options: object) -> CliRun:
    return gateway(
        "store", "migrate", "--from", f"sqlite:{source.path}", "--to", target,
        "--key-file", source.key_file, *options,
    )  # fmt: skip


async def _rows(store: Store, table: str, order: str) -> list[tuple[Any, ...]]:
    sql = f"SELECT * FROM {table} ORDER BY {order}"  # noqa: S608 (the tests' own names)
    return [tuple(row) for row in await store.fetch_all(sql)]


async def _both(source: Source, target: str) -> tuple[Store, PgStore]:
    keys = KeyRing.load(source.key_file)
    return await Store.open(source.path, keys), await PgStore.open_pg(target, keys)


def _held_in(url: str) -> dict[str, int]:
    """Rows per table of the database at ``url``, read around the store."""
    tables = ("messages", "register_versions", "users", "approvals", "user_aliases", "audit")
    counts = {}
    with psycopg.connect(url) as conn:
        for table in tables:
            row = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()  # noqa: S608
            counts[table] = row[0] if row else -1
    return counts


def test_migrate_moves_every_row_and_the_audit_chain_verifies(
    gateway: Gateway, source: Source, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages, versions, files, accounts, aliases, approvals and the audit chain read
    back equal from PostgreSQL; sessions and the old node's meta rows stay behind."""
    # small pages and inserts, so that paging and multi-row inserts run in every table
    monkeypatch.setattr(move_module, "PAGE", 3)
    monkeypatch.setattr(move_module, "MAX_PARAMS", 20)
    result = _migrate(gateway, source, target)
    assert 0 == result.status, result.err
    assert "messages: 9 rows" in result.out
    assert "users: 2 rows" in result.out
    assert "register_versions: 2 rows" in result.out
    assert "audit chain verified: 3 records" in result.out

    async def check() -> None:
        old, new = await _both(source, target)
        try:
            for message in source.messages:
                assert message == await new.get(message.id)
            assert await old.register_versions() == await new.register_versions()
            assert await old.load_register() == await new.load_register()
            assert await old.last_file_import(str(EXAMPLE)) == await new.last_file_import(
                str(EXAMPLE)
            )
            assert await accounts.list_users(old) == await accounts.list_users(new)
            for table, order in (("approvals", '"user"'), ("user_aliases", "uid")):
                assert await _rows(old, table, order) == await _rows(new, table, order)
            assert await audit.records(old) == await audit.records(new)
            report = await audit.verify(new)
            assert report.ok, report.problem
            assert (await audit.verify(old)).records == report.records
            assert [] == await _rows(new, "sessions", "token_hash")
            assert None is await new.in_force()
            names = [row[0] for row in await _rows(new, "meta", "name")]
            assert not [name for name in names if name.startswith(NODE_ROWS)]
            assert 1 == len(await _rows(old, "sessions", "token_hash"))  # the source is as it was
        finally:
            await old.close()
            await new.close()

    asyncio.run(check())


def test_migrate_prints_counts_and_urls_but_nothing_protected(
    gateway: Gateway, source: Source, target: str
) -> None:
    """The summary names the stores (the URL without its password) and counts, never a
    message's content, an address or the password in the URL."""
    result = _migrate(gateway, source, target)
    assert 0 == result.status, result.err
    assert f"sqlite:{source.path}" in result.out
    assert target.replace(f":{URL_PASSWORD}", "") in result.out
    for secret in (URL_PASSWORD, CANARY, "alice@example.org", "a.smith@example.org"):
        assert secret not in result.out + result.err


def test_an_account_logs_in_on_the_target_with_its_password_and_code(
    gateway: Gateway, source: Source, target: str
) -> None:
    """Password hashes and sealed TOTP secrets moved as they were: logins still work."""
    assert 0 == _migrate(gateway, source, target).status

    async def check() -> None:
        async with await PgStore.open_pg(target, KeyRing.load(source.key_file)) as new:
            assert "alice" == (await accounts.authenticate(new, "alice", PASSWORD)).name
            code = pyotp.TOTP(source.totp).now()
            assert "bob" == (await accounts.authenticate(new, "bob", PASSWORD, code)).name
            with pytest.raises(LoginFailed):
                await accounts.authenticate(new, "alice", "not the password at all")

    asyncio.run(check())


def test_a_second_migrate_into_the_same_database_is_refused_and_changes_nothing(
    gateway: Gateway, source: Source, target: str
) -> None:
    """The target is no longer empty: refused, naming it, every stored byte unchanged."""
    assert 0 == _migrate(gateway, source, target).status

    async def snapshot() -> bytes:
        async with await PgStore.open_pg(target, KeyRing.load(source.key_file)) as new:
            return stored_bytes(new)

    before = asyncio.run(snapshot())
    result = _migrate(gateway, source, target)
    assert 2 == result.status
    assert "not empty" in result.err
    assert target.replace(f":{URL_PASSWORD}", "") in result.err
    assert URL_PASSWORD not in result.err
    assert before == asyncio.run(snapshot())


def test_a_wrong_key_is_refused_before_the_target_is_made(
    gateway: Gateway, source: Source, target: str, tmp_path: Path
) -> None:
    """Another key does not open the SQLite store: refused, the target database left
    without tables, so that the right key can still move into it."""
    other = tmp_path / "other.key"
    KeyRing.generate(other)
    result = _migrate(gateway, source, target, "--key-file", other)
    assert 2 == result.status
    assert "not the key of" in result.err
    with psycopg.connect(target) as conn:
        assert (
            []
            == conn.execute("SELECT tablename FROM pg_tables WHERE tablename = 'meta'").fetchall()
        )
    assert 0 == _migrate(gateway, source, target).status


def test_a_tampered_source_chain_is_refused_with_nothing_moved(
    gateway: Gateway, source: Source, target: str
) -> None:
    """A source whose audit chain does not verify is not moved: the error says why, and
    the target holds no message, account, version or audit record but its genesis."""
    with closing(sqlite3.connect(source.path)) as db, db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("DROP TRIGGER audit_no_delete")
        db.execute("UPDATE audit SET actor = 'user:mallory' WHERE seq = 2")
    result = _migrate(gateway, source, target)
    assert 2 == result.status
    assert "does not verify (record 2 was altered)" in result.err
    assert {
        "messages": 0, "register_versions": 0, "users": 0, "approvals": 0, "user_aliases": 0,
        "audit": 1,
    } == _held_in(target)  # fmt: skip


@pytest.mark.parametrize(
    ("given_from", "given_to", "said"),
    [
        ("sqlite:{missing}", "{target}", "no SQLite store here"),
        ("{source}", "{target}", "expected sqlite:PATH"),
        ("sqlite:{source}", "mysql://root@localhost/db", "must start with postgresql://"),
    ],
)
def test_a_missing_source_or_a_bad_url_is_a_usage_error(
    gateway: Gateway, source: Source, target: str, given_from: str, given_to: str, said: str
) -> None:
    """Status 2 and what is wrong; no SQLite file is made where none was."""
    missing = source.path.with_name("none.sqlite3")
    places = {"missing": missing, "source": source.path, "target": target}
    result = gateway(
        "store", "migrate", "--from", given_from.format(**places),
        "--to", given_to.format(**places), "--key-file", source.key_file,
    )  # fmt: skip
    assert 2 == result.status
    assert said in result.err
    assert not missing.exists()


def test_no_key_file_says_which_key_is_wanted(
    gateway: Gateway, source: Source, target: str, tmp_path: Path
) -> None:
    """Without the key there is nothing to move: the error names the file and the store."""
    result = _migrate(gateway, source, target, "--key-file", tmp_path / "absent.key")
    assert 2 == result.status
    assert f"{tmp_path / 'absent.key'}: no master key file" in result.err
    assert str(source.path) in result.err


def test_a_store_moves_between_two_postgresql_databases(pg_server: Server, source: Source) -> None:
    """``move_store`` reads the source on its own connections, even when both stores
    are PostgreSQL (the target's transaction is the task's)."""

    async def run() -> None:
        keys = KeyRing.load(source.key_file)
        first, second = pg_server.new_database(), pg_server.new_database()
        async with (
            await Store.open(source.path, keys) as old,
            await PgStore.open_pg(first, keys) as middle,
        ):
            await move_store(old, middle)
        async with (
            await PgStore.open_pg(first, keys) as middle,
            await PgStore.open_pg(second, keys) as last,
        ):
            report = await move_store(middle, last)
            assert 9 == report.rows["messages"]
            assert await audit.records(middle) == await audit.records(last)

    asyncio.run(run())


def test_a_target_opened_with_another_key_is_refused(pg_server: Server, source: Source) -> None:
    """Sealed bytes move as they are, so both stores must have one key."""

    async def run() -> None:
        keys = KeyRing.load(source.key_file)
        other = KeyRing(b"k" * 32)
        async with (
            await Store.open(source.path, keys) as old,
            await PgStore.open_pg(pg_server.new_database(), other) as new,
        ):
            with pytest.raises(ConfigError, match="another master key"):
                await move_store(old, new)

    asyncio.run(run())


@pytest.fixture(scope="module")
def property_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """One key for every example (made once: hypothesis runs a test's examples within
    one call of its fixtures)."""
    return KeyRing.generate(tmp_path_factory.mktemp("keys") / "master.key")


_messages = st.lists(
    st.builds(
        lambda status, n, raw, false_positive, attempts: dataclasses.replace(
            _message(status, n, raw), false_positive=false_positive, attempts=attempts
        ),
        st.sampled_from(STATUSES),
        st.integers(0, 59),
        st.binary(max_size=3000),
        st.booleans(),
        st.integers(0, 5),
    ),
    max_size=12,
)


@given(messages=_messages, page=st.integers(1, 5))
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_quarantine_survives_the_move_byte_for_byte(
    pg_server: Server,
    property_keys: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
    messages: list[HeldMessage],
    page: int,
) -> None:
    """Whatever the messages and the page size, each reads back equal, and every column
    (the sealed ones too) holds the very bytes the source held."""
    monkeypatch.setattr(move_module, "PAGE", page)

    async def run(folder: Path) -> None:
        async with await Store.open(folder / "gateway.sqlite3", property_keys) as old:
            for message in messages:
                await old.hold(message)
                await old.execute(
                    "UPDATE messages SET false_positive = ?, attempts = ? WHERE id = ?",
                    (int(message.false_positive), message.attempts, message.id),
                )
            async with await PgStore.open_pg(pg_server.new_database(), property_keys) as new:
                report = await move_store(old, new)
                assert len(messages) == report.rows["messages"]
                for message in messages:
                    assert message == await new.get(message.id)
                assert await _rows(old, "messages", "id") == await _rows(new, "messages", "id")

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder)))
