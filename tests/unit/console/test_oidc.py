"""The console's OpenID Connect client: which ID tokens it accepts, and what it asks for.

The provider's discovery document and keys come from the test provider's object over an
in-memory transport (no sockets): the tokens are signed with its real RSA key.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc.jwk import RSAKey

from gateway.console.oidc import (
    NO_SECOND_FACTOR,
    OidcClient,
    OidcSettings,
    Request,
    mfa_proven,
    oidc_settings,
)
from gateway.errors import ConfigError, LoginFailed
from gateway.settings import load_settings
from tests.integration.console.oidc_provider import CLIENT_ID, Provider

ISSUER = "https://login.council.example/tenant"
REDIRECT = "https://console.council.example/login/sso/callback"


@pytest.fixture
def provider() -> Provider:
    made = Provider([])
    made.issuer = ISSUER
    return made


def client(provider: Provider, fetched: list[str] | None = None, **options: Any) -> OidcClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if fetched is not None:
            fetched.append(request.url.path)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={**provider.discovery(), "jwks_uri": ISSUER + "/jwks"})
        if request.url.path.endswith("/jwks"):
            return httpx.Response(200, json={"keys": [provider.key.as_dict(private=False)]})
        return httpx.Response(404)

    settings = OidcSettings(ISSUER, CLIENT_ID, REDIRECT, "secret", **options)
    return OidcClient(settings, transport=httpx.MockTransport(answer))


def claims(trip: Request, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "sub": "subject-1",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "nonce": trip.nonce,
        "preferred_username": "rita",
        "groups": ["gw-reviewers"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def verify(oidc: OidcClient, token: str, trip: Request, reauth: bool = False) -> Any:
    return asyncio.run(oidc.verify(token, trip, reauth=reauth))


def test_a_token_signed_by_the_provider_for_this_request_is_accepted(provider: Provider) -> None:
    """Right key, issuer, audience, nonce and times: the identity with its claims."""
    oidc = client(provider)
    trip = oidc.new_request()
    found = verify(oidc, provider.sign(claims(trip)), trip)
    assert ("subject-1", ["gw-reviewers"]) == (found.subject, found.claims["groups"])


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("wrong nonce", {"nonce": "another"}),
        ("no nonce", {"nonce": None}),
        ("expired", {"exp": int(time.time()) - 600, "iat": int(time.time()) - 1200}),
        ("wrong audience", {"aud": "another-client"}),
        ("wrong issuer", {"iss": "https://login.evil.example/"}),
        ("no subject", {"sub": None}),
        ("issued in the future", {"iat": int(time.time()) + 3600}),
    ],
)
def test_a_token_with_wrong_claims_is_refused(
    provider: Provider, why: str, changes: dict[str, Any]
) -> None:
    """Each claim the client checks, wrong in turn: refused with the one fixed text."""
    oidc = client(provider)
    trip = oidc.new_request()
    with pytest.raises(LoginFailed, match="could not be verified"):
        verify(oidc, provider.sign(claims(trip, **changes)), trip)


def test_a_tampered_token_is_refused(provider: Provider) -> None:
    """Claims changed after signing (groups widened to admins): the signature fails."""
    oidc = client(provider)
    trip = oidc.new_request()
    header, payload, signature = provider.sign(claims(trip)).split(".")
    other = provider.sign(claims(trip, groups=["gw-admins"])).split(".")[1]
    assert payload != other
    with pytest.raises(LoginFailed):
        verify(oidc, f"{header}.{other}.{signature}", trip)


def test_a_token_signed_by_another_key_is_refused(provider: Provider) -> None:
    """A key the provider does not publish, under its key id or a new one: refused."""
    oidc = client(provider)
    trip = oidc.new_request()
    for kid in ("test-key", "rotated"):
        forger = RSAKey.generate_key(2048, parameters={"kid": kid})
        with pytest.raises(LoginFailed):
            verify(oidc, provider.sign(claims(trip), key=forger), trip)


def test_a_new_key_id_fetches_the_keys_again_at_most_once_a_minute(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider rotated its keys: a token under a new key id makes the client fetch
    the JWKS again (not more than once a minute), and then it is accepted."""
    fetched: list[str] = []
    oidc = client(provider, fetched)
    trip = oidc.new_request()
    verify(oidc, provider.sign(claims(trip)), trip)
    provider.key = RSAKey.generate_key(2048, parameters={"kid": "rotated"})
    with pytest.raises(LoginFailed):  # within the minute: the old keys still
        verify(oidc, provider.sign(claims(trip)), trip)
    later = time.monotonic() + 61
    monkeypatch.setattr("gateway.console.oidc.time.monotonic", lambda: later)
    assert verify(oidc, provider.sign(claims(trip)), trip).subject == "subject-1"
    assert 2 == fetched.count("/tenant/jwks")


def test_an_unsigned_token_is_refused(provider: Provider) -> None:
    """``alg: none`` is never among the accepted algorithms."""
    oidc = client(provider)
    trip = oidc.new_request()
    header, payload, _ = provider.sign(claims(trip)).split(".")
    none_header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    with pytest.raises(LoginFailed):
        verify(oidc, f"{none_header}.{payload}.", trip)
    assert header != none_header


def test_a_re_authentication_needs_a_login_after_the_request(provider: Provider) -> None:
    """For a release: a login from before the trip (the provider ignored prompt=login)
    or none stated is refused; a fresh one is accepted."""
    oidc = client(provider)
    trip = oidc.new_request()
    old = int(trip.started) - 3600
    with pytest.raises(LoginFailed, match="fresh sign-in"):
        verify(oidc, provider.sign(claims(trip, auth_time=old)), trip, reauth=True)
    with pytest.raises(LoginFailed):
        verify(oidc, provider.sign(claims(trip, auth_time=None)), trip, reauth=True)
    assert verify(oidc, provider.sign(claims(trip)), trip, reauth=True).auth_time


def test_the_authorization_request_carries_pkce_state_nonce_and_for_a_release_prompt_login(
    provider: Provider,
) -> None:
    """S256 challenge of the verifier (never the verifier), state, nonce; a release adds
    prompt=login and max_age."""
    oidc = client(provider)
    trip = oidc.new_request()
    url = asyncio.run(oidc.authorization_url(trip))
    again = asyncio.run(oidc.authorization_url(trip, reauth=True))
    asked = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    reauth = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(again).query))
    assert ("S256", trip.state, trip.nonce) == (
        asked["code_challenge_method"],
        asked["state"],
        asked["nonce"],
    )
    assert trip.verifier not in url
    assert "prompt" not in asked
    assert ("login", "0") == (reauth["prompt"], reauth["max_age"])


def test_a_discovery_document_naming_another_issuer_is_refused(provider: Provider) -> None:
    """OpenID Connect Discovery 4.3: the issuer in the document must be the one asked."""
    provider.issuer = "https://login.evil.example"
    with pytest.raises(LoginFailed, match="another issuer"):
        asyncio.run(client(provider).metadata())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"console_local_login": False}, "console_local_login = false needs oidc_issuer"),
        ({"oidc_issuer": "http://login.council.example"}, "expected an https:// URL"),
        ({"oidc_issuer": ISSUER}, "oidc_issuer needs oidc_client_id too"),
        (
            {
                "oidc_issuer": ISSUER,
                "oidc_client_id": "c",
                "oidc_client_secret_file": "/nonexistent",
            },
            "oidc_issuer needs console_url too",
        ),
    ],
)
def test_sso_settings_that_cannot_work_stop_the_start(
    settings: dict[str, Any], message: str
) -> None:
    """Each missing or unsafe piece: a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=message):
        oidc_settings(load_settings(None, env={}, flags=settings))


def test_sso_settings_read_the_client_secret_from_its_file(tmp_path: Path) -> None:
    """The secret from its file (trimmed), the redirect URI from console_url; the secret
    is not in the settings' repr (which a traceback could print)."""
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    flags = {
        "oidc_issuer": ISSUER,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret_file": str(secret),
        "console_url": "https://console.council.example/",
        "oidc_group_roles": "gw-reviewers=reviewer",
    }
    made = oidc_settings(load_settings(None, env={}, flags=flags))
    assert made is not None
    assert ("s3cret-value", REDIRECT) == (made.client_secret, made.redirect_uri)
    assert "s3cret" not in repr(made)


# RFC 8176's authentication method reference values.
METHODS = ("pwd", "otp", "hwk", "swk", "sms", "tel", "face", "fpt", "pin", "kba", "sc", "user")


@given(
    st.lists(st.sampled_from(METHODS), max_size=4),
    st.one_of(st.none(), st.sampled_from(["0", "1", "2", "urn:mace:incommon:iap:silver"])),
    st.lists(st.sampled_from(["2", "urn:mace:incommon:iap:silver"]), max_size=2),
)
def test_a_second_factor_is_two_methods_mfa_or_a_listed_acr(
    amr: list[str], acr: str | None, mfa_acr: list[str]
) -> None:
    """RFC 8176: "mfa", or two different methods, in amr; else an acr the settings list."""
    expected = len(set(amr)) >= 2 or (acr is not None and acr in mfa_acr)
    assert expected == mfa_proven({"amr": amr, "acr": acr}, mfa_acr)
    assert mfa_proven({"amr": [*amr, "mfa"], "acr": acr}, mfa_acr)


@pytest.mark.parametrize("amr", [None, "mfa", ["pwd"], ["pwd", "pwd"], [["pwd", "otp"]], [1, 2]])
def test_no_second_factor_in_the_claims_is_none(amr: object) -> None:
    """Missing, a bare string, one method, or not strings: no second factor shown."""
    assert not mfa_proven({"amr": amr} if amr is not None else {})


def test_with_mfa_required_a_token_without_a_second_factor_is_refused(provider: Provider) -> None:
    """oidc_require_mfa: a password-only sign-in is refused with its own sentence; one
    with mfa in amr, or a listed acr, is accepted."""
    oidc = client(provider, require_mfa=True, mfa_acr=("2",))
    trip = oidc.new_request()
    with pytest.raises(LoginFailed) as refused:
        verify(oidc, provider.sign(claims(trip, amr=["pwd"], acr="1")), trip)
    assert NO_SECOND_FACTOR == str(refused.value)
    assert verify(oidc, provider.sign(claims(trip, amr=["pwd", "mfa"])), trip).subject
    assert verify(oidc, provider.sign(claims(trip, acr="2")), trip).subject
    lenient = client(provider)
    assert verify(lenient, provider.sign(claims(trip, amr=["pwd"])), trip).subject


def test_mfa_settings_are_read_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('oidc_require_mfa = true\noidc_mfa_acr = ["2", "gold"]\n')
    read = load_settings(config, env={})
    assert (True, ("2", "gold")) == (read.oidc_require_mfa, read.oidc_mfa_acr)
    env = {"GATEWAY_OIDC_REQUIRE_MFA": "false", "GATEWAY_OIDC_MFA_ACR": "3"}
    read = load_settings(config, env=env)
    assert (False, ("3",)) == (read.oidc_require_mfa, read.oidc_mfa_acr)
