"""Accounts made and updated by single sign-on; role changes and second-factor resets."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from gateway.errors import ConfigError, LoginFailed
from gateway.review import Role, User, accounts, sso
from gateway.settings import load_settings
from gateway.store import Store

from .conftest import PASSWORD

pytestmark = pytest.mark.asyncio

ISSUER = "https://login.council.example"
REVIEWER = frozenset({Role.REVIEWER})


def claims(name: str = "rhian@council.example.gov.uk", **more: object) -> dict[str, object]:
    return {"preferred_username": name, "email": name, **more}


async def test_the_first_sign_in_makes_an_account_without_a_password(store: Store) -> None:
    """Named from preferred_username before the @, its address from email, marked as
    SSO; no password (not even an empty one) opens it."""
    signed = await sso.sign_in(store, ISSUER, "sub-1", claims(), REVIEWER, "preferred_username")
    assert (True, "rhian", REVIEWER, True) == (
        signed.created,
        signed.user.name,
        signed.user.roles,
        signed.user.sso,
    )
    for password in ("", "oidc:", PASSWORD):
        with pytest.raises(LoginFailed):
            await accounts.authenticate(store, "rhian", password)
    stored = await store.fetch_one("SELECT password_hash FROM users WHERE name = 'rhian'")
    assert stored is not None
    assert "sub-1" not in str(stored[0])


async def test_an_sso_account_gets_no_password(store: Store) -> None:
    """A password reset (the console's or the CLI's) is refused: it would untie the
    account from the provider's person."""
    await sso.sign_in(store, ISSUER, "sub-1", claims(), REVIEWER, "preferred_username")
    with pytest.raises(ConfigError, match="identity provider"):
        await accounts.reset_password(store, "rhian", PASSWORD)
    assert (await accounts.get_user(store, "rhian")).sso


async def test_later_sign_ins_set_the_roles_from_the_groups(store: Store) -> None:
    """Same person (issuer and subject): the account found again, its roles replaced."""
    await sso.sign_in(store, ISSUER, "sub-1", claims(), REVIEWER, "preferred_username")
    both = frozenset({Role.REVIEWER, Role.SENIOR})
    again = await sso.sign_in(store, ISSUER, "sub-1", claims(), both, "preferred_username")
    assert (False, both, REVIEWER) == (again.created, again.user.roles, again.roles_before)


async def test_no_mapped_group_no_sign_in(store: Store) -> None:
    """Roles empty: refused, and no account is made."""
    with pytest.raises(LoginFailed, match="no role"):
        await sso.sign_in(store, ISSUER, "sub-1", claims(), frozenset(), "preferred_username")
    assert await accounts.find_user(store, "rhian") is None


async def test_a_local_account_is_not_taken_over(store: Store, people: dict[str, User]) -> None:
    """Another person at the provider called rita, or using rita's address: refused
    (an admin must resolve it); rita's account is unchanged."""
    for given in (claims("rita@elsewhere.example"), claims("rhian", email=people["rita"].email)):
        with pytest.raises(LoginFailed, match="exists already"):
            await sso.sign_in(store, ISSUER, "sub-9", given, REVIEWER, "preferred_username")
    assert not (await accounts.get_user(store, "rita")).sso


async def test_a_disabled_sso_account_stays_out(store: Store) -> None:
    """The provider vouches for the person; the admin's disable wins."""
    await sso.sign_in(store, ISSUER, "sub-1", claims(), REVIEWER, "preferred_username")
    await accounts.set_disabled(store, "rhian", True)
    with pytest.raises(LoginFailed):
        await sso.sign_in(store, ISSUER, "sub-1", claims(), REVIEWER, "preferred_username")


async def test_another_issuer_with_the_same_subject_is_another_person(store: Store) -> None:
    """The tie is issuer and subject together: a second provider's sub-1 is not rhian."""
    await sso.sign_in(store, ISSUER, "sub-1", claims(), REVIEWER, "preferred_username")
    with pytest.raises(LoginFailed, match="exists already"):
        await sso.sign_in(
            store, "https://other.example", "sub-1", claims(), REVIEWER, "preferred_username"
        )


async def test_groups_map_to_roles() -> None:
    """Each group's roles, together; unmapped groups add none; one group as a string."""
    mapping = {"gw-reviewers": ("reviewer",), "gw-seniors": ("reviewer", "senior")}
    groups = sso.claimed_groups({"groups": ["gw-seniors", "staff"]}, "groups")
    assert frozenset({Role.REVIEWER, Role.SENIOR}) == sso.roles_for(groups, mapping)
    assert ("council.example",) == sso.claimed_groups({"hd": "council.example"}, "hd")
    assert frozenset() == sso.roles_for(sso.claimed_groups({}, "groups"), mapping)


async def test_groups_left_out_as_too_many_refuse_the_sign_in() -> None:
    """Entra ID's overage: no groups claim, ``_claim_names`` naming it; the sign-in is
    refused with what to do, instead of an account with no role."""
    overage = {
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/me"}},
    }
    with pytest.raises(LoginFailed, match="more groups than"):
        sso.claimed_groups(overage, "groups")
    assert () == sso.claimed_groups(overage, "roles")  # another claim: not the overage
    assert ("a",) == sso.claimed_groups({**overage, "groups": ["a"]}, "groups")


async def test_role_changes_apply_to_open_sessions(store: Store, people: dict[str, User]) -> None:
    """A session reads its user's roles at each request: a change is seen at once."""
    token, _ = await accounts.start_session(store, people["rob"])
    await accounts.set_roles(store, "rob", frozenset({Role.AUDITOR}))
    session = await accounts.resume_session(store, token, 900, 3600)
    assert session is not None
    assert frozenset({Role.AUDITOR}) == session.user.roles
    with pytest.raises(ConfigError):
        await accounts.set_roles(store, "rob", frozenset())


async def test_a_second_factor_reset_removes_it_and_ends_sessions(
    store: Store, people: dict[str, User]
) -> None:
    """The lost phone: no TOTP any more, and whoever held a session is out."""
    uri = await accounts.enrol_totp(store, "sue")
    secret = uri.split("secret=")[1].split("&")[0]
    user = await accounts.authenticate(store, "sue", PASSWORD, pyotp.TOTP(secret).now())
    token, _ = await accounts.start_session(store, user)
    await accounts.reset_totp(store, "sue")
    assert await accounts.resume_session(store, token, 900, 3600) is None
    assert not (await accounts.authenticate(store, "sue", PASSWORD)).has_totp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('oidc_group_roles = {"gw-r" = "reviewer"}', (("gw-r", ("reviewer",)),)),
        (
            'oidc_group_roles = {"gw-s" = ["reviewer", "senior"]}',
            (("gw-s", ("reviewer", "senior")),),
        ),
    ],
)
async def test_group_roles_setting_reads_a_toml_table(
    tmp_path: Path, text: str, expected: object
) -> None:
    """A TOML table of a group to a role or a list of roles."""
    path = tmp_path / "g.toml"
    path.write_text(text + "\n")
    assert expected == load_settings(path, env={}).oidc_group_roles


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gw-r=boss", "group 'gw-r': unknown role 'boss'"),
        ("gw-r", "expected GROUP=ROLE"),
        ("gw-r=", "group 'gw-r': unknown role"),
    ],
)
async def test_group_roles_setting_errors_name_the_setting(value: str, message: str) -> None:
    """Each mistake: a ConfigError naming oidc_group_roles and what is wrong."""
    with pytest.raises(ConfigError, match=f"oidc_group_roles: {message}"):
        load_settings(None, env={"GATEWAY_OIDC_GROUP_ROLES": value})
