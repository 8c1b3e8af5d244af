"""review (console): an OpenID Connect provider's answers -> verified identities.

The authorization code flow (OpenID Connect Core 3.1) as a confidential client, with
PKCE (S256), ``state`` and ``nonce``: ``authorization_url`` sends the browser to the
provider; ``sign_in`` trades the code for tokens at the token endpoint and verifies the
ID token: its signature against the provider's JWKS (fetched again once when a token
names a key it lacks: the provider rotated its keys), its issuer, audience, authorized
party, expiry, issue time and nonce (Authlib's ``CodeIDToken`` rules, strictly).  A
re-authentication (before a release) asks the provider for a fresh login
(``prompt=login``, ``max_age``) and checks ``auth_time``: a provider that answers from
an older login is refused.

The provider's settings come from its discovery document (Entra ID, Google Workspace,
Keycloak and others publish one); its issuer must be the configured one.  Codes,
tokens, the client secret and the verifier are never logged nor put in an error.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from gateway.errors import ConfigError, LoginFailed

if TYPE_CHECKING:
    from gateway.settings import Settings

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")  # never "none" or HS*
LEEWAY = 60  # seconds of clock difference allowed with the provider
JWKS_REFRESH = 60.0  # at most one fetch of the keys a minute for unknown key ids
REFUSED = "The identity provider's answer could not be verified; try signing in again."
NO_SECOND_FACTOR = (
    "The identity provider did not report a second factor for this sign-in, and this "
    "console needs one: sign in with your second factor."
)


@dataclass(frozen=True)
class OidcSettings:
    """One provider, as the ``oidc_*`` settings give it."""

    issuer: str
    client_id: str
    redirect_uri: str  # <console_url>/login/sso/callback, registered at the provider
    client_secret: str = field(default="", repr=False)
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    groups_claim: str = "groups"
    username_claim: str = "preferred_username"
    group_roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    display_name: str = "single sign-on"
    reauth_max_age: int = 0  # seconds: how old a login a release may rest on
    require_mfa: bool = False  # the ID token must show a second factor (``mfa_proven``)
    mfa_acr: tuple[str, ...] = ()
    timeout: float = 10.0


@dataclass(frozen=True)
class Request:
    """What one trip to the provider needs to remember until it comes back."""

    state: str
    nonce: str
    verifier: str
    started: float


@dataclass(frozen=True)
class Identity:
    """A verified ID token's claims that the console uses."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    auth_time: float | None


class OidcClient:
    """The console's side of the flow, with the provider's metadata and keys cached."""

    def __init__(
        self, settings: OidcSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport, timeout=self.settings.timeout, follow_redirects=False
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LoginFailed("The identity provider cannot be reached; try again later.") from exc
        if not isinstance(data, dict):
            raise LoginFailed("The identity provider sent something other than JSON.")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once); its issuer must be the configured one."""
        if self._metadata is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            data = await self._get_json(url)
            if data.get("issuer") != self.settings.issuer:
                raise LoginFailed("The identity provider's discovery names another issuer.")
            self._metadata = data
        return self._metadata

    async def _keyset(self, refresh: bool = False) -> KeySet:
        now = time.monotonic()
        if self._keys is None or (refresh and now - self._keys_at > JWKS_REFRESH):
            data = await self._get_json(str((await self.metadata())["jwks_uri"]))
            try:
                self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise LoginFailed(REFUSED) from exc
            self._keys_at = now
        return self._keys

    def new_request(self) -> Request:
        """Fresh ``state``, ``nonce`` and PKCE verifier for one trip to the provider."""
        return Request(
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(64),
            time.time(),
        )

    async def authorization_url(self, request: Request, reauth: bool = False) -> str:
        """Where to send the browser; ``reauth`` asks for a login now, whatever the
        provider's own session."""
        s = self.settings
        params = {
            "response_type": "code",
            "client_id": s.client_id,
            "redirect_uri": s.redirect_uri,
            "scope": " ".join(s.scopes),
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": create_s256_code_challenge(request.verifier),
            "code_challenge_method": "S256",
        }
        if reauth:
            params |= {"prompt": "login", "max_age": str(s.reauth_max_age)}
        endpoint = str((await self.metadata())["authorization_endpoint"])
        joiner = "&" if urllib.parse.urlsplit(endpoint).query else "?"
        return endpoint + joiner + urllib.parse.urlencode(params)

    async def sign_in(self, request: Request, code: str, reauth: bool = False) -> Identity:
        """The code traded at the token endpoint; the verified identity of its ID token."""
        token = await self._token(request, code)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise LoginFailed(REFUSED)
        access = token.get("access_token")
        return await self.verify(
            id_token, request, access if isinstance(access, str) else None, reauth
        )

    async def _token(self, request: Request, code: str) -> dict[str, Any]:
        s, meta = self.settings, await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": s.redirect_uri,
            "code_verifier": request.verifier,
        }
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        auth: httpx.Auth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if "client_secret_basic" in methods:  # RFC 6749 2.3.1: each part form-encoded
            # (%20 for a space, which form decoding and plain percent decoding both read)
            auth = httpx.BasicAuth(_quote(s.client_id), _quote(s.client_secret))
        else:
            form |= {"client_id": s.client_id, "client_secret": s.client_secret}
        try:
            async with self._http() as http:
                response = await http.post(
                    str(meta["token_endpoint"]),
                    data=form,
                    auth=auth,
                    headers={"Accept": "application/json"},
                )
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LoginFailed("The identity provider cannot be reached; try again later.") from exc
        if response.status_code != 200 or not isinstance(data, dict):
            raise LoginFailed(REFUSED)
        return data

    async def verify(
        self, id_token: str, request: Request, access_token: str | None = None, reauth: bool = False
    ) -> Identity:
        """The ID token's identity, or ``LoginFailed``: a bad signature or unknown key,
        another issuer or audience, expired, or not this request's nonce; for a
        re-authentication, a login older than the request."""
        s = self.settings
        try:
            try:
                decoded = jwt.decode(id_token, await self._keyset(), algorithms=ALGORITHMS)
            except InvalidKeyIdError:  # perhaps a key the provider added since: look again
                decoded = jwt.decode(id_token, await self._keyset(True), algorithms=ALGORITHMS)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                options={
                    "iss": {"essential": True, "value": s.issuer},
                    "aud": {"essential": True, "value": s.client_id},
                    "sub": {"essential": True},
                    "nonce": {"essential": True},
                },
                params={
                    "nonce": request.nonce,
                    "client_id": s.client_id,
                    "access_token": access_token,
                    **({"max_age": s.reauth_max_age or 1} if reauth else {}),
                },
            )
            claims.validate(now=int(time.time()), leeway=LEEWAY)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise LoginFailed(REFUSED) from exc
        if not hmac.compare_digest(str(claims.get("nonce", "")), request.nonce):
            raise LoginFailed(REFUSED)
        if s.require_mfa and not mfa_proven(claims, s.mfa_acr):
            raise LoginFailed(NO_SECOND_FACTOR)
        auth_time = claims.get("auth_time")
        if reauth and not _fresh(auth_time, request.started - s.reauth_max_age):
            raise LoginFailed(
                "The identity provider did not ask for your password again; the release "
                "needs a fresh sign-in."
            )
        return Identity(
            s.issuer,
            str(claims["sub"]),
            dict(claims),
            float(auth_time) if isinstance(auth_time, int | float) else None,
        )


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def mfa_proven(claims: Mapping[str, object], mfa_acr: Iterable[str] = ()) -> bool:
    """Whether an ID token's claims say the sign-in used a second factor: ``amr``
    (RFC 8176) holds ``mfa`` or two different methods (``["pwd", "otp"]``), or ``acr``
    is one of the values the settings name as multi-factor."""
    amr = claims.get("amr")
    methods = {m for m in amr if isinstance(m, str)} if isinstance(amr, list) else set()
    if "mfa" in methods or len(methods) >= 2:
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in set(mfa_acr)


def _fresh(auth_time: object, since: float) -> bool:
    """A login at ``auth_time`` is no older than ``since`` (with the clock leeway) and
    not in the future."""
    if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
        return False
    return since - LEEWAY <= auth_time <= time.time() + LEEWAY


def oidc_settings(settings: Settings) -> OidcSettings | None:
    """The provider from the ``oidc_*`` settings (None without ``oidc_issuer``), its
    client secret read from its file; ``ConfigError`` naming what is missing."""
    if not settings.oidc_issuer:
        if not settings.console_local_login:
            raise ConfigError("console_local_login = false needs oidc_issuer: nobody could log in")
        return None
    issuer = settings.oidc_issuer
    if not _secure(issuer):
        raise ConfigError("oidc_issuer: expected an https:// URL (http only on loopback)")
    missing = [
        name
        for name, value in (
            ("oidc_client_id", settings.oidc_client_id),
            ("oidc_client_secret_file", settings.oidc_client_secret_file),
            ("console_url", settings.console_url),
            ("oidc_group_roles", settings.oidc_group_roles),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"oidc_issuer needs {missing[0]} too")
    assert settings.oidc_client_secret_file is not None
    try:
        secret = settings.oidc_client_secret_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"oidc_client_secret_file: cannot read ({exc.strerror})") from exc
    return OidcSettings(
        issuer=issuer,
        client_id=settings.oidc_client_id,
        redirect_uri=settings.console_url.rstrip("/") + "/login/sso/callback",
        client_secret=secret,
        scopes=settings.oidc_scopes,
        groups_claim=settings.oidc_groups_claim,
        username_claim=settings.oidc_username_claim,
        group_roles=settings.oidc_group_roles,
        display_name=settings.oidc_display_name,
        require_mfa=settings.oidc_require_mfa,
        mfa_acr=settings.oidc_mfa_acr,
    )


def _secure(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    try:
        loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    return parts.scheme == "http" and loopback
