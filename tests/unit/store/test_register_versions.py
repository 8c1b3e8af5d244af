"""Register versions in the store: who, how, from what and digest; rollback, retention,
single-case changes, the last import from each file, and stores made before schema 3."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
import pytest_asyncio

from gateway.crypto import KeyRing
from gateway.errors import ConfigError, Conflict
from gateway.register import Register, parse_register
from gateway.register.diff import canonical, read_canonical
from gateway.store import Store
from gateway.store.registers import Origin, text_digest
from gateway.store.schema import MIGRATIONS, statements
from tests.store_support import open_test_store

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
EXAMPLE = SHARED / "contracts" / "register.example.yaml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
SMALL = '{"version": 1, "cases": [{"id": "C1", "protected": [{"name": "Ann Bell"}]}]}'
CLI = Origin("cli:alice", "import", "/srv/register.yaml", "ab" * 32, "/srv/register.yaml")


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    """A master key for the test's store."""
    return KeyRing.generate(tmp_path / "keys" / "master.key")


@pytest_asyncio.fixture
async def store(tmp_path: Path, keys: KeyRing, store_url: str) -> AsyncIterator[Store]:
    """A new store on each database, closed after the test."""
    opened = await open_test_store(store_url, tmp_path, keys)
    yield opened
    await opened.close()


async def _save(store: Store, text: str, origin: Origin = CLI, keep: int = 0) -> int:
    register = parse_register(text, "r.json" if text.startswith("{") else "r.yaml")
    fmt = "json" if text.startswith("{") else "yaml"
    return await store.save_register(text, fmt, len(register.cases), origin, keep=keep)


@pytest.mark.asyncio
async def test_a_version_records_who_how_from_what_and_its_digest(store: Store) -> None:
    """The listing gives actor, action, source, source digest and the text's SHA-256,
    newest first."""
    await _save(store, TEXT)
    await _save(store, SMALL, Origin("user:reggie", "import", "new.json", "cd" * 32))
    newest, oldest = await store.register_versions()
    assert (2, "user:reggie", "import", "new.json", 1) == (
        newest.version,
        newest.actor,
        newest.action,
        newest.source,
        newest.cases,
    )
    assert hashlib.sha256(SMALL.encode()).hexdigest() == newest.digest
    assert ("cli:alice", "ab" * 32, text_digest(TEXT)) == (
        oldest.actor,
        oldest.source_digest,
        oldest.digest,
    )
    info = await store.register_info()
    assert info is not None
    assert 2 == info.version


@pytest.mark.asyncio
async def test_an_old_version_text_comes_back_byte_for_byte(store: Store) -> None:
    """Saving a kept version's text again (a rollback) gives exactly that text, unsealed."""
    await _save(store, TEXT)
    await _save(store, SMALL)
    old = await store.register_source(1)
    assert old is not None
    assert 3 == await store.save_register(
        old.text, old.format, 2, Origin("cli:alice", "rollback", "version 1"), after=2
    )
    again = await store.register_source()
    assert again is not None
    assert (3, TEXT, "yaml") == (again.version, again.text, again.format)
    assert (await store.register_versions())[0].digest == text_digest(TEXT)


@pytest.mark.asyncio
async def test_a_change_made_against_an_old_version_is_refused(store: Store) -> None:
    """``after`` names the version the change was compared with: another one since is a
    Conflict, and nothing is stored."""
    await _save(store, TEXT)
    await _save(store, SMALL)
    with pytest.raises(Conflict, match="changed meanwhile"):
        await store.save_register(SMALL, "json", 1, CLI, after=1)
    assert 2 == await store.register_version()


@pytest.mark.asyncio
async def test_retention_keeps_the_newest_versions_only(store: Store) -> None:
    """With keep=2 the oldest versions go; the current one always stays."""
    for _ in range(3):
        await _save(store, TEXT)
    await _save(store, SMALL, keep=2)
    assert [4, 3] == [v.version for v in await store.register_versions()]
    assert None is await store.register_source(1)
    await _save(store, TEXT, keep=1)
    assert [5] == [v.version for v in await store.register_versions()]


@pytest.mark.asyncio
async def test_add_and_update_change_only_the_cases_in_the_file(store: Store) -> None:
    """add appends a new case, update replaces one in place; the others stay as they were."""
    await _save(store, TEXT)
    new = parse_register(SMALL, "new.json")
    version, diff = await store.change_cases(new, "add", Origin("cli:alice", "add", "new.json"))
    assert (2, ("C1",)) == (version, diff.cases.added)
    changed = SMALL.replace("Ann Bell", "Ann Bell-Smith")
    version, diff = await store.change_cases(
        parse_register(changed, "c.json"), "update", Origin("cli:alice", "update", "c.json")
    )
    assert (3, ("protected[0].name",)) == (version, diff.cases.changed[0].fields)
    register = await store.load_register()
    assert register is not None
    assert ["DA-2025-0142", "CL-2025-0007", "C1"] == [c.id for c in register.cases]
    assert "Sarah Jane Whitmore" == register.cases[0].protected[0].name
    assert ["update", "add", "import"] == [v.action for v in await store.register_versions()]


@pytest.mark.asyncio
async def test_add_refuses_a_known_id_and_update_an_unknown_one(store: Store) -> None:
    """Each refusal names the id and stores nothing; an update that changes nothing
    stores nothing either."""
    await _save(store, TEXT)
    first = Register.model_validate(json.loads(SMALL))
    with pytest.raises(ConfigError, match="no C1 in register version 1"):
        await store.change_cases(first, "update", CLI)
    known = parse_register(TEXT, "same.yaml")
    with pytest.raises(ConfigError, match="DA-2025-0142 is already in register version 1"):
        await store.change_cases(known, "add", CLI)
    version, diff = await store.change_cases(known, "update", CLI)
    assert (0, True) == (version, diff.empty)
    assert 1 == await store.register_version()


@pytest.mark.asyncio
async def test_a_protected_location_can_be_removed_like_a_case(store: Store) -> None:
    """remove takes a protected location's id too; the cases stay."""
    await _save(store, TEXT)
    await store.remove_case("refuge-north", Origin("cli:alice", "remove", "version 1"))
    register = await store.load_register()
    assert register is not None
    assert ([], 2) == (register.protected_locations, len(register.cases))
    assert "remove" == (await store.register_versions())[0].action


@pytest.mark.asyncio
async def test_the_last_import_from_each_file_outlives_retention(store: Store) -> None:
    """register_files keeps the version and digest of the last import from a file, even
    after that version is trimmed; other files and sources are not confused with it."""
    await _save(store, TEXT)
    await _save(store, SMALL, Origin("user:reggie", "import", "upload.json", "ff" * 32))
    await _save(store, TEXT, Origin("cli:alice", "rollback", "version 1"), keep=1)
    found = await store.last_file_import("/srv/register.yaml")
    assert (1, "ab" * 32) == found
    assert None is await store.last_file_import("upload.json")
    await store.remember_file("/srv/register.yaml", "ee" * 32, 3)
    assert (3, "ee" * 32) == await store.last_file_import("/srv/register.yaml")


@pytest.mark.asyncio
async def test_a_store_made_before_schema_3_keeps_its_versions(
    tmp_path: Path, keys: KeyRing
) -> None:
    """A schema-2 store opens at schema 3: its version lists with the digest of its text
    (then kept), and its import from a file is found by the path as it was given then."""
    path = tmp_path / "old" / "gateway.sqlite3"
    path.parent.mkdir()
    async with aiosqlite.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:2], start=1):
            for statement in statements(script):
                await db.execute(statement)
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version, applied_at)")
            await db.execute("INSERT INTO schema_version VALUES (?, 'then')", (number,))
        body = keys.seal("register:1", TEXT.encode())
        await db.execute(
            "INSERT INTO register_versions VALUES (1, '2026-01-01T00:00:00+00:00',"
            " 'register.yaml', 'yaml', 2, ?)",
            (body,),
        )
        await db.commit()
    store = await Store.open(path, keys)
    try:
        [old] = await store.register_versions()
        assert ("", "import", text_digest(TEXT), 2) == (
            old.actor,
            old.action,
            old.digest,
            old.cases,
        )
        kept = await store.fetch_one("SELECT digest FROM register_versions WHERE version = 1")
        assert kept is not None
        assert text_digest(TEXT) == kept[0]  # computed once, kept for the next listing
        found = await store.last_file_import("/etc/gateway/register.yaml", "register.yaml")
        assert (1, text_digest(TEXT)) == found
        assert 2 == await _save(store, SMALL)
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_the_canonical_form_is_kept_and_made_once_when_missing(store: Store) -> None:
    """A version saved with its canonical form gives it back; one saved without gets it
    made from its text on first use, and kept."""
    register = parse_register(TEXT, "r.yaml")
    await store.save_register(TEXT, "yaml", 2, CLI, canonical_text=canonical(register))
    assert (1, canonical(register)) == await store.register_canonical()
    await _save(store, SMALL)
    missing = await store.fetch_one("SELECT canonical FROM register_versions WHERE version = 2")
    assert (missing is not None, None) == (True, missing[0] if missing else None)
    version, form = await store.register_canonical() or (0, "")
    assert (2, ["C1"]) == (version, list(read_canonical(form).cases))
    kept = await store.fetch_one("SELECT canonical FROM register_versions WHERE version = 2")
    assert kept is not None
    assert kept[0] is not None


@pytest.mark.asyncio
async def test_a_rekey_rewraps_the_canonical_form_too(
    tmp_path: Path, store: Store, keys: KeyRing
) -> None:
    """After a rekey the canonical form opens with the new key."""
    register = parse_register(TEXT, "r.yaml")
    await store.save_register(TEXT, "yaml", 2, CLI, canonical_text=canonical(register))
    await store.rekey(KeyRing.generate(tmp_path / "new.key"))
    assert (1, canonical(register)) == await store.register_canonical()
