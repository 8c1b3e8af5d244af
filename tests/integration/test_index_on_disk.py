"""The index kept sealed beside the store: built once per register version, loaded at
each start after, rebuilt whenever the file is not exactly that version's."""

from __future__ import annotations

import asyncio
import pickle
import smtplib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.match import Index, stored
from gateway.match import keys as K
from gateway.store import Store
from gateway.store.registers import RegisterSource
from gateway.workers import build_in_process
from tests.integration.smtp_support import (
    Gateway,
    SinkHandler,
    held_messages,
    outgoing,
    sink,
    start_gateway,
)
from tests.integration.support import MARK, REGISTER, SAFE_ADDRESS

TEXT = REGISTER.read_text(encoding="utf-8")
LOADED = '"index loaded from disk"'


@pytest.fixture(autouse=True)
def _restore_key() -> Iterator[None]:
    before = K.current_key()
    yield
    K.use_key(before)


async def _with_store(folder: Path, test: Callable[[Store], Awaitable[None]]) -> None:
    """``test`` on a new store in ``folder`` (a test runs its own event loop: the
    gateway's helpers in the other tests run theirs)."""
    store = await Store.open(folder / "gateway.sqlite3", KeyRing(bytes([3]) * 32))
    try:
        await test(store)
    finally:
        await store.close()


def _index(pickled: bytes) -> Index:
    index: Index = pickle.loads(pickled)  # noqa: S301 - from our own builder
    return index


def test_a_built_index_is_kept_and_loaded_at_the_next_start(tmp_path: Path) -> None:
    """The first load builds and seals the index; the next one reads it, the same bytes."""
    asyncio.run(_with_store(tmp_path, _kept_and_loaded))


async def _kept_and_loaded(store: Store) -> None:
    source = RegisterSource(1, TEXT, "register:1.yaml")
    built = await build_in_process(source, store)
    path = stored.index_path(store.path)
    assert (False, True) == (built.from_disk, path.exists())
    again = await build_in_process(source, store)
    assert (True, built.pickled, built.cases) == (again.from_disk, again.pickled, again.cases)
    index = _index(again.pickled)
    assert stored.hash_key(store.keys) == index.hash_key
    assert [] != index.lookup([K.restricted_key(MARK)])[0]


async def _spoil(store: Store, how: str) -> RegisterSource:
    """Keep version 1's index, then spoil it ``how``; the source to load next."""
    path = stored.index_path(store.path)
    await build_in_process(RegisterSource(1, TEXT, "register:1.yaml"), store)
    if how == "tampered":
        data = bytearray(path.read_bytes())
        data[-100] ^= 0x40
        path.write_bytes(bytes(data))
    if how == "other key":
        other = KeyRing(bytes([9]) * 32)
        pickled, cases = stored.load(path, store.keys, 1, stored.register_digest(TEXT))
        stamp = stored.Stamp(1, stored.register_digest(TEXT), cases, "0" * 16)
        stored.save(path, other, stamp, pickled)
    if how == "other version":
        return RegisterSource(2, TEXT, "register:2.yaml")
    if how == "other text":
        return RegisterSource(1, TEXT + "# changed\n", "register:1.yaml")
    return RegisterSource(1, TEXT, "register:1.yaml")


@pytest.mark.parametrize("how", ["tampered", "other key", "other version", "other text"])
def test_an_index_file_not_exactly_the_versions_is_rebuilt(tmp_path: Path, how: str) -> None:
    """A tampered file, one of another master key, version or text is never used: the
    index is built again, and the file replaced by one that loads next time."""
    asyncio.run(_with_store(tmp_path, lambda store: _rebuilt(store, how)))


async def _rebuilt(store: Store, how: str) -> None:
    source = await _spoil(store, how)
    rebuilt = await build_in_process(source, store)
    assert not rebuilt.from_disk
    assert [] != _index(rebuilt.pickled).lookup([K.restricted_key(MARK)])[0]
    digest = stored.register_digest(source.text)
    path = stored.index_path(store.path)
    assert (rebuilt.pickled, rebuilt.cases) == stored.load(path, store.keys, source.version, digest)


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


def _greeted(gateway: Gateway) -> None:
    """Wait for the gateway's SMTP greeting: it greets once its scan processes hold
    the index (its socket may take connections before that)."""
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=120) as client:
        assert 250 == client.noop()[0]


def _send(gateway: Gateway, rcpt: str, body: str) -> int:
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60) as client:
        client.ehlo("client.example")
        client.mail("officer@council.example.gov.uk")
        client.rcpt(rcpt)
        return client.data(outgoing(rcpt, body))[0]


def test_a_restart_loads_the_index_from_disk_and_scans_as_before(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """The second start of ``gateway serve`` says it loaded the index from disk, and
    it still holds a leak to the restricted contact and relays clean mail."""
    first = start_gateway(tmp_path / "data", upstream[1])
    try:
        _greeted(first)
        assert LOADED not in first.logs()
    finally:
        assert 0 == first.stop(), first.logs()[-2000:]
    assert (tmp_path / "data" / "gateway.index").exists()
    again = start_gateway(tmp_path / "data", upstream[1])
    try:
        _greeted(again)
        assert 1 == again.logs().count(LOADED)
        assert 250 == _send(again, MARK, f"She lives at {SAFE_ADDRESS}.")
        assert 250 == _send(again, "someone@partner.example", "The meeting is on Tuesday.")
    finally:
        assert 0 == again.stop(), again.logs()[-2000:]
    assert 1 == len(held_messages(tmp_path / "data"))
    assert 1 == len(upstream[0].messages)
    assert "Kingfisher" not in again.logs()
