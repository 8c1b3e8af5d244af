"""review (console): single sign-on pages: a trip to the provider -> a session, or a release.

A mixin of ``Console``.  ``/login/sso`` sends the browser to the provider with fresh
``state``, ``nonce`` and PKCE verifier; they travel in a cookie sealed with the store's
master key (AES-GCM, bound to the state), so whichever node of several the provider
sends the browser back to (``/login/sso/callback``) can check that the state is the one
this browser was given, and no one can read or change what the cookie holds.  A release
by an account that signs in through the provider goes there too (``prompt=login``): the
typed reason waits in the same sealed cookie, never in a URL, and the release is done
when the provider has confirmed that same person with a fresh login.  A code is used
once by the provider, so a replayed callback fails at the token endpoint.

The callback is a cross-site navigation, on which browsers do not send SameSite=Strict
cookies: so the trip's cookie is Lax, and the callback answers with a page that moves
on by itself (a same-site navigation, which carries the session cookie).
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.console import web
from gateway.console.oidc import Identity, OidcClient
from gateway.console.oidc import Request as Trip
from gateway.crypto import KeyRing, SealError
from gateway.errors import ConfigError, LoginFailed, ReviewError
from gateway.review import Review, accounts, record_event, sso
from gateway.review.accounts import Session
from gateway.store import Store

if TYPE_CHECKING:
    from gateway.console.app import ConsoleSettings

SSO_COOKIE = "__Host-sso"
TRIP_SECONDS = 600.0
MAX_COOKIE = 3800  # bytes of the sealed trip: browsers keep cookies up to 4096


@dataclass(frozen=True)
class Pending:
    """A trip to the provider: for a login, or for the release of ``message_id``."""

    trip: Trip
    user: str = ""  # the account that asked for a release
    message_id: str = ""
    reason: str = ""

    @property
    def reauth(self) -> bool:
        return bool(self.message_id)

    def seal(self, keys: KeyRing) -> str:
        t = self.trip
        data = [t.state, t.nonce, t.verifier, t.started, self.user, self.message_id, self.reason]
        sealed = keys.seal(f"sso-trip:{t.state}", json.dumps(data).encode())
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    @classmethod
    def unseal(cls, keys: KeyRing, state: str, cookie: str) -> Pending | None:
        """The trip in ``cookie`` if it was sealed for ``state`` and is fresh."""
        try:
            raw = keys.open(f"sso-trip:{state}", base64.urlsafe_b64decode(cookie.encode()))
            s, nonce, verifier, started, user, message_id, reason = json.loads(raw)
        except (SealError, ValueError, TypeError):
            return None
        if s != state or not -60 <= time.time() - float(started) < TRIP_SECONDS:
            return None
        trip = Trip(str(s), str(nonce), str(verifier), float(started))
        return cls(trip, str(user), str(message_id), str(reason))


class SsoPages:
    """Sign-in through the provider, and re-authentication there before a release."""

    review: Review
    store: Store
    settings: ConsoleSettings
    oidc: OidcClient | None
    throttle: web.Throttle  # the password login's: a failed callback counts as a failed login

    def render(self, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        raise NotImplementedError

    async def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        raise NotImplementedError

    async def sso_start(self, request: Request) -> Response:
        if self.oidc is None:
            return self.render("error.html", 404, error="Single sign-on is not set up.")
        try:
            return await self._to_provider(Pending(self.oidc.new_request()))
        except LoginFailed as exc:
            return await self.login_form(request, str(exc), 502)

    async def sso_release(self, session: Session, message_id: str, reason: str) -> Response:
        """Ask the provider for a fresh login of the account before releasing."""
        assert self.oidc is not None
        trip = self.oidc.new_request()
        return await self._to_provider(Pending(trip, session.user.name, message_id, reason))

    async def _to_provider(self, pending: Pending) -> Response:
        assert self.oidc is not None
        sealed = pending.seal(self.store.keys)
        if len(sealed) > MAX_COOKIE:
            raise ConfigError("The reason is too long to confirm at the identity provider.")
        url = await self.oidc.authorization_url(pending.trip, reauth=pending.reauth)
        response: Response = RedirectResponse(url, status_code=303)
        if pending.reauth:
            # From the release form: the console's CSP (form-action 'self') stops a form's
            # redirect to another site, so a page moves on to the provider instead.
            text = "Confirm who you are at the identity provider:"
            response = self.render("onward.html", path=url, text=text)
        response.set_cookie(
            SSO_COOKIE,
            sealed,
            max_age=int(TRIP_SECONDS),
            path="/",
            secure=True,
            httponly=True,
            samesite="lax",
        )
        return response

    async def sso_callback(self, request: Request) -> Response:
        address = web.client_ip(request)
        if self.throttle.blocked(address):
            return await self.login_form(request, "Too many failed logins; wait a while.", 429)
        self.throttle.failed(address)  # counted before the check, as for a password
        response = await self._callback(request)
        if response.status_code < 400:
            self.throttle.succeeded(address)
        return response

    async def _callback(self, request: Request) -> Response:
        state = request.query_params.get("state", "")
        cookie = request.cookies.get(SSO_COOKIE, "")
        pending = Pending.unseal(self.store.keys, state, cookie) if state and cookie else None
        if self.oidc is None or pending is None:
            return await self._refused(request, None, "This sign-in is out of date; start again.")
        if request.query_params.get("error"):
            # The provider's error code (access_denied, login_required...): no secret.
            error = re.sub(r"[^a-z_]", "", request.query_params["error"])[:40] or "an error"
            return await self._refused(request, pending, f"The identity provider said: {error}.")
        try:
            found = await self.oidc.sign_in(
                pending.trip, request.query_params.get("code", ""), pending.reauth
            )
            if pending.reauth:
                return await self._release(pending, found)
            return await self._login(request, found)
        except LoginFailed as exc:
            return await self._refused(request, pending, str(exc))

    async def _login(self, request: Request, found: Identity) -> Response:
        assert self.oidc is not None
        s = self.oidc.settings
        groups = sso.claimed_groups(found.claims, s.groups_claim)
        roles = sso.roles_for(groups, dict(s.group_roles))
        signed = await sso.sign_in(
            self.store, found.issuer, found.subject, found.claims, roles, s.username_claim
        )
        user = signed.user
        await self._audit_sign_in(signed)
        token, _ = await accounts.start_session(self.store, user)
        await record_event(self.store, user.actor, "login", f"user:{user.name}", "single sign-on")
        response = self._onward("/")
        web.set_cookie(response, web.SESSION_COOKIE, token)
        return response

    async def _audit_sign_in(self, signed: sso.SignIn) -> None:
        user, roles = signed.user, ",".join(sorted(signed.user.roles))
        if signed.created:
            reason = f"roles {roles} from the identity provider's groups"
            await record_event(self.store, "sso", "user-add", f"user:{user.name}", reason)
        elif signed.roles_before is not None:
            before = ",".join(sorted(signed.roles_before))
            reason = f"roles {roles} (were {before}) from the identity provider's groups"
            await record_event(self.store, "sso", "user-roles", f"user:{user.name}", reason)

    async def _release(self, pending: Pending, found: Identity) -> Response:
        """The release the account asked for, if the fresh login was that account's."""
        user = await accounts.find_user(self.store, pending.user)
        if user is None or user.disabled or not user.sso:
            raise LoginFailed("You signed in as someone else at the identity provider.")
        linked = await self.store.fetch_one(
            "SELECT 1 FROM users WHERE name = ? AND password_hash = ?",
            (user.name, sso.link(found.issuer, found.subject)),
        )
        if linked is None:
            raise LoginFailed("You signed in as someone else at the identity provider.")
        message_id = pending.message_id
        try:
            outcome = await self.review.release(user, message_id, pending.reason)
        except ReviewError as exc:
            return self.render("error.html", 409, session=None, error=str(exc))
        return self._onward(f"/messages/{message_id}?notice={outcome.state}")

    async def _refused(self, request: Request, pending: Pending | None, error: str) -> Response:
        """The login page (or, for a release, an error page) with ``error``, audited."""
        response: Response
        if pending is not None and pending.reauth:
            await record_event(
                self.store, f"user:{pending.user}", "reauth-failed", pending.message_id, error
            )
            response = self.render("error.html", 401, session=None, error=error)
        else:
            await record_event(
                self.store, f"ip:{web.client_ip(request)}", "login-failed", "sso", error
            )
            response = await self.login_form(request, error, 401)
        web.clear_cookie(response, SSO_COOKIE)
        return response

    def _onward(self, path: str) -> HTMLResponse:
        """A page that goes on to ``path`` by itself: a same-site navigation, which
        carries the SameSite=Strict session cookie that the provider's redirect does not."""
        response = self.render("onward.html", path=path, text="Signed in.")
        web.clear_cookie(response, SSO_COOKIE)
        return response
