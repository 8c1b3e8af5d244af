"""Who an account is: names unique after case folding and NFKC, one account per
address (canonical form), several addresses per account, four eyes by account id."""

from __future__ import annotations

import sqlite3
import unicodedata
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import KeyRing
from gateway.errors import AccessDenied, ConfigError, Conflict, LoginFailed, NotFound
from gateway.review import Review, Role, User, accounts, audit, identity
from gateway.store import Store
from tests.store_support import raw_sql

from .conftest import PASSWORD, SENDER, FakeUpstream, held
from .legacy import old_store

REVIEWER = frozenset({Role.REVIEWER})


def fullwidth(text: str) -> str:
    """``Reviewer1`` in fullwidth forms (``U+FF01``..``U+FF5E``)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.asyncio
async def test_names_differing_in_case_or_width_are_refused(store: Store) -> None:
    """``reviewer1`` and fullwidth ``Reviewer1`` are refused once ``Reviewer1`` exists."""
    await accounts.add_user(store, "Reviewer1", "r1@council.example", REVIEWER, PASSWORD)
    for variant in ("reviewer1", "REVIEWER1", fullwidth("Reviewer1"), fullwidth("reviewer1")):
        with pytest.raises(ConfigError, match="is taken: account 'Reviewer1' has the same name"):
            await accounts.add_user(store, variant, f"{len(variant)}@x.example", REVIEWER, PASSWORD)
    assert ["Reviewer1"] == [u.name for u in await accounts.list_users(store)]


_NAME = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._-"), min_size=1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_NAME.filter(lambda n: n.replace(".", "").replace("-", "").replace("_", "")))
def test_every_case_and_width_variant_has_the_same_name_key(name: str) -> None:
    """Upper case, title case and fullwidth forms of a name fold to one key."""
    variants = {name.upper(), name.title(), fullwidth(name), fullwidth(name.upper())}
    assert {identity.name_key(name)} == {identity.name_key(v) for v in variants}
    assert unicodedata.is_normalized("NFKC", identity.clean_name(fullwidth(name)))


@pytest.mark.asyncio
async def test_one_address_belongs_to_one_account(store: Store) -> None:
    """A second account with another's address (canonical form), or an alias that is
    another account's address, is refused; the same address twice on one account too."""
    await accounts.add_user(store, "rita", "rita@council.example", REVIEWER, PASSWORD)
    await accounts.add_user(
        store, "rob", "rob@council.example", REVIEWER, PASSWORD, ("team@council.example",)
    )
    refused = [
        ("sam", "Rita+Work@Council.Example", ()),
        ("sam", "sam@council.example", ("TEAM+x@council.example",)),
        ("sam", "sam@council.example", ("sam+2@council.example",)),
    ]
    for name, email, aliases in refused:
        with pytest.raises(ConfigError, match=r"already an address of|the same address"):
            await accounts.add_user(store, name, email, REVIEWER, PASSWORD, aliases)
    with pytest.raises(ConfigError, match="already an address of account 'rob'"):
        await accounts.add_alias(store, "rita", "team@council.example")
    with pytest.raises(ConfigError, match="already an address of account 'rita'"):
        await accounts.set_email(store, "rob", "RITA@council.example")
    assert ["rita", "rob"] == [u.name for u in await accounts.list_users(store)]


@pytest.mark.asyncio
async def test_aliases_are_added_and_removed(store: Store) -> None:
    """An account keeps the aliases it is given, and loses one by any spelling of it."""
    await accounts.add_user(store, "rita", "rita@council.example", REVIEWER, PASSWORD)
    await accounts.add_alias(store, "rita", "Housing@Council.Example")
    await accounts.add_alias(store, "rita", "lettings@council.example")
    user = await accounts.get_user(store, "rita")
    expected = ("rita@council.example", "housing@council.example", "lettings@council.example")
    assert expected == user.addresses
    await accounts.remove_alias(store, "rita", "housing+old@council.example")
    assert ("lettings@council.example",) == (await accounts.get_user(store, "rita")).aliases
    with pytest.raises(NotFound):
        await accounts.remove_alias(store, "rita", "housing@council.example")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "sender",
    [
        "officer+x@council.example.gov.uk",
        "Officer@Council.Example.Gov.UK",
        "shared@council.example",
    ],
    ids=["plus-tag", "case", "alias"],
)
async def test_any_address_of_the_sender_stops_their_release(
    store: Store, review: Review, people: dict[str, User], sender: str
) -> None:
    """Sent as ``officer+x@...``, in other case, or from the officer's alias: the
    officer's release is refused and the message stays held."""
    await accounts.add_alias(store, "officer", "shared@council.example")
    officer = await accounts.get_user(store, "officer")
    message_id = await store.hold(held(sender=sender))
    with pytest.raises(AccessDenied, match="sender"):
        await review.release(officer, message_id, "mine")
    assert "held" == (await store.summary(message_id) or held()).status
    assert SENDER != sender


@pytest.mark.asyncio
async def test_four_eyes_compares_account_ids(
    store: Store, review: Review, people: dict[str, User]
) -> None:
    """An approval counts for the account that made it, whatever name it was made
    under: that account cannot be the second approver."""
    message_id = await store.hold(held("critical"))
    assert "approved" == (await review.release(people["rita"], message_id, "ok")).state
    raw_sql(  # the name at the time differed from today's
        store,
        f"UPDATE approvals SET \"user\" = 'Sue', user_id = '{people['sue'].id}'"  # noqa: S608
        f" WHERE message_id = '{message_id}'",
    )
    with pytest.raises(Conflict, match="approved this already"):
        await review.release(people["sue"], message_id, "agreed")
    assert ["sue"] == await review.approvals(message_id)


async def _legacy(tmp_path: Path, users: list[tuple[str, str]]) -> Store:
    keys = KeyRing.generate(tmp_path / "old.key")
    old_store(tmp_path / "old.sqlite3", keys, users, records=2)
    return await Store.open(tmp_path / "old.sqlite3", keys)


@pytest.mark.asyncio
async def test_an_old_store_with_clashing_accounts_opens_and_blocks_them(tmp_path: Path) -> None:
    """Accounts made before the rules (``Sue``/``sue``; one address twice) stay, are
    reported, and cannot log in or act until an admin disables one of each pair."""
    users = [
        ("Sue", "sue@council.example"),
        ("sue", "sue.b@council.example"),
        ("ann", "ann@council.example"),
        ("bea", "Ann+b@council.example"),
        ("cat", "cat@council.example"),
    ]
    store = await _legacy(tmp_path, users)
    async with store:
        listed = {u.name: u for u in await accounts.list_users(store)}
        assert {"Sue", "sue", "ann", "bea"} == {n for n, u in listed.items() if u.clash}
        assert "its name is shared by accounts Sue, sue" in listed["sue"].clash
        assert "an address is shared by accounts ann, bea" in listed["bea"].clash
        assert len({u.id for u in listed.values()}) == len(users)
        with pytest.raises(LoginFailed, match="shares its name or an address"):
            await accounts.authenticate(store, "sue", PASSWORD)
        assert "cat" == (await accounts.authenticate(store, "cat", PASSWORD)).name
        review = Review(store, FakeUpstream())
        with pytest.raises(AccessDenied):
            await review.release(listed["Sue"], await store.hold(held()), "ok")

        await accounts.set_disabled(store, "Sue", True)
        assert "sue" == (await accounts.authenticate(store, "sue", PASSWORD)).name
        with pytest.raises(ConfigError, match="is taken"):
            await accounts.set_disabled(store, "Sue", False)
        await accounts.set_email(store, "bea", "bea@council.example")
        assert "bea" == (await accounts.authenticate(store, "bea", PASSWORD)).name
        assert (await audit.verify(store)).ok


@pytest.mark.asyncio
async def test_old_approvals_keep_their_account(tmp_path: Path) -> None:
    """An approval made before account ids is tied to its account by the upgrade."""
    keys = KeyRing.generate(tmp_path / "old.key")
    old_store(tmp_path / "old.sqlite3", keys, [("rita", "rita@council.example")], records=1)
    with closing(sqlite3.connect(tmp_path / "old.sqlite3")) as db:
        db.execute("INSERT INTO approvals VALUES ('Q1', 'rita', '2026-01-01T00:00:00+00:00')")
        db.commit()
    async with await Store.open(tmp_path / "old.sqlite3", keys) as store:
        rita = await accounts.get_user(store, "rita")
        row = await store.fetch_one("SELECT user_id FROM approvals WHERE message_id = 'Q1'")
        assert (rita.id, 32) == (row[0] if row else None, len(rita.id))
