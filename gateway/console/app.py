"""review (console): HTTP requests -> ``Review`` calls -> server-rendered pages.

Every page but the login page needs a session (else a redirect to /login); every POST
needs the session's CSRF token (else 403); every action is checked again by ``Review``
on the server, whatever the page offered.  Pages work without JavaScript; templates
escape everything (Jinja2 autoescape), and mail is shown only as extracted text.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.console import web
from gateway.console.admin import AdminPages
from gateway.console.auditlog import AUDIT_ROLES, AuditPages
from gateway.console.decision import MessagePages
from gateway.console.oidc import OidcClient, OidcSettings
from gateway.console.sso import SsoPages
from gateway.console.view import finding_summary
from gateway.console.worklist import ListPages
from gateway.errors import AccessDenied, ConfigError, Conflict, LoginFailed, NotFound, ReviewError
from gateway.extract import Limits
from gateway.policy import Policy
from gateway.review import Review, Role, accounts, record_event
from gateway.review.accounts import Session
from gateway.review.model import READERS, REVIEWERS

HERE = Path(__file__).parent
Handler = Callable[[Request, Session], Awaitable[Response]]
_STATUS_CODES = {AccessDenied: 403, NotFound: 404, Conflict: 409, ConfigError: 400}
_HTTP_ERRORS = {
    404: "There is no such page.",
    405: "That page does not take this kind of request.",
    500: "The console failed to answer; the error is in the gateway's log. Try again.",
}
NOTICES = {
    "approved": "Approved. A senior reviewer must approve it too before it is released.",
    "released": "Released: the upstream accepted the message.",
    "pending": "Released, but the upstream did not take it yet; the gateway keeps trying.",
    "refused": "The upstream refused this message for good, so it is held again. "
    "See the history below for what it refused.",
    "rejected": "Rejected: the message will not be delivered.",
    "false-positive": "Marked as a false positive.",
    "user-added": "User added.",
    "user-changed": "User changed.",
    "register-imported": "Register imported; the gateway uses it within seconds.",
    "register-rolled-back": "Rolled back: a new version with the old content; the gateway "
    "uses it within seconds.",
    "register-same": "That register holds the same cases as the current version: "
    "nothing was stored.",
    "totp-on": "Your authenticator app is now needed at every login and release.",
    "totp-required": "This console needs a second factor: set up an authenticator app "
    "before anything else.",
}
POLICY_READERS = frozenset({Role.POLICY_ADMIN, Role.AUDITOR, Role.ADMIN})
REGISTER_READERS = frozenset({Role.REGISTER_ADMIN, Role.AUDITOR})


@dataclass(frozen=True)
class ConsoleSettings:
    idle_timeout: float = 900.0  # seconds without a request before a session ends
    session_lifetime: float = 8 * 3600.0  # however busy, a session ends after this
    limits: Limits = field(default_factory=Limits)  # the scan's, for re-reading a message
    register_max_shrink: float = 0.05  # as the settings of the same names
    register_keep_versions: int = 0
    require_totp: bool = False  # a password account without TOTP must enrol first
    local_login: bool = True  # the name-and-password form on the login page
    oidc: OidcSettings | None = None  # single sign-on through this provider


class Console(MessagePages, AdminPages, AuditPages, ListPages, SsoPages):
    """The console's routes over one ``Review``."""

    def __init__(
        self,
        review: Review,
        settings: ConsoleSettings,
        policy: Policy | None = None,
        policy_dir: Path | None = None,
    ) -> None:
        self.review = review
        self.store = review.store
        self.settings = settings
        self.policy = policy
        self.policy_dir = policy_dir
        self.notices = NOTICES
        self.enrol_key = secrets.token_bytes(32)
        self.register_previews = {}
        self.throttle = web.Throttle()
        self.oidc = OidcClient(settings.oidc) if settings.oidc else None
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.globals.update(finding_summary=finding_summary)
        env.filters["when"] = _when
        env.filters["age"] = _age
        self.env = env

    def app(self) -> Starlette:
        page = self._page
        routes = [
            Route("/", page(self.home, frozenset(Role))),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/login/sso", self.sso_start, methods=["GET"]),
            Route("/login/sso/callback", self.sso_callback, methods=["GET"]),
            Route("/logout", page(self.logout, frozenset(Role)), methods=["POST"]),
            Route("/messages", page(self.messages, READERS)),
            Route("/messages/{id}", page(self.message, READERS)),
            Route("/messages/{id}/export", page(self.export, READERS)),
            Route("/messages/bulk", page(self.bulk, REVIEWERS), methods=["POST"]),
            Route("/messages/{id}/claim", page(self.claim, REVIEWERS), methods=["POST"]),
            Route("/messages/{id}/{action}", page(self.act, REVIEWERS), methods=["POST"]),
            Route("/audit", page(self.audit, AUDIT_ROLES)),
            Route("/audit.csv", page(self.audit_csv, AUDIT_ROLES)),
            Route("/users", page(self.users, frozenset({Role.ADMIN}))),
            Route("/users", page(self.change_user, frozenset({Role.ADMIN})), methods=["POST"]),
            Route("/account", page(self.account, frozenset(Role))),
            Route("/account", page(self.change_account, frozenset(Role)), methods=["POST"]),
            Route("/register", page(self.register, REGISTER_READERS)),
            *(
                Route(path, page(handler, frozenset({Role.REGISTER_ADMIN})), methods=["POST"])
                for path, handler in (
                    ("/register", self.import_register),
                    ("/register/confirm", self.confirm_register),
                    ("/register/rollback", self.rollback_register),
                )
            ),
            Route("/policies", page(self.policies, POLICY_READERS)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        return Starlette(
            routes=routes,
            middleware=[Middleware(web.SecurityHeaders)],
            exception_handlers={HTTPException: self._http_error, Exception: self._server_error},
        )

    # -- plumbing ---------------------------------------------------------------------

    def render(self, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("session", None)
        context.setdefault("notice", None)
        context.setdefault("status", code)
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=code)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own errors (no such page, a method a page does not take) in the
        console's layout, with its navigation for a signed-in user."""
        assert isinstance(exc, HTTPException)
        token = request.cookies.get(web.SESSION_COOKIE, "")
        session = await accounts.resume_session(
            self.store, token, self.settings.idle_timeout, self.settings.session_lifetime
        )
        error = _HTTP_ERRORS.get(exc.status_code, "That request cannot be answered.")
        return self.render("error.html", exc.status_code, session=session, error=error)

    async def _server_error(self, request: Request, exc: Exception) -> Response:
        """A fault of the console's own: the styled page, without the session (the store
        may be what failed) and without the exception's text (it may quote mail).  It is
        answered outside the middleware, so it sets the security headers itself."""
        response = self.render("error.html", 500, error=_HTTP_ERRORS[500])
        for name, value in web.SECURITY_HEADERS:
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        return response

    def _page(self, handler: Handler, roles: frozenset[Role]) -> Callable[[Request], Any]:
        """Session, CSRF (on POST), role and error handling around ``handler``."""

        async def endpoint(request: Request) -> Response:
            token = request.cookies.get(web.SESSION_COOKIE, "")
            session = await accounts.resume_session(
                self.store, token, self.settings.idle_timeout, self.settings.session_lifetime
            )
            if session is None:
                response = RedirectResponse("/login", status_code=303)
                if token:
                    web.clear_cookie(response, web.SESSION_COOKIE)
                return response
            if request.method == "POST":
                form = await request.form()
                if not web.same_token(form.get("csrf"), session.csrf):
                    return self.render(
                        "error.html",
                        403,
                        session=session,
                        error="The form was out of date. Go back and try again.",
                    )
                request.state.form = form
            if self._must_enrol(session, request):
                return RedirectResponse("/account?notice=totp-required", status_code=303)
            if not session.user.has(*roles):
                return self.render(
                    "error.html", 403, session=session, error="Your account may not open this page."
                )
            try:
                return await handler(request, session)
            except (ReviewError, ConfigError) as exc:
                status = next((v for k, v in _STATUS_CODES.items() if isinstance(exc, k)), 400)
                return self.render("error.html", status, session=session, error=str(exc))

        return endpoint

    def _must_enrol(self, session: Session, request: Request) -> bool:
        """With ``console_require_totp``, a password account without a second factor
        may open nothing but its account page (to enrol) until it has one."""
        user = session.user
        exempt = user.has_totp or user.sso or request.url.path in ("/account", "/logout")
        return self.settings.require_totp and not exempt

    # -- login ------------------------------------------------------------------------

    async def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        token = web.new_token()
        response = self.render(
            "login.html",
            status,
            login_csrf=token,
            error=error,
            local_login=self.settings.local_login,
            sso=self.oidc.settings.display_name if self.oidc else "",
        )
        web.set_cookie(response, web.LOGIN_COOKIE, token)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if not self.settings.local_login:
            return await self.login_form(request, "Sign in through single sign-on.", 403)
        if not web.same_token(form.get("csrf"), request.cookies.get(web.LOGIN_COOKIE, "")):
            return await self.login_form(request, "The form was out of date; try again.", 403)
        address = web.client_ip(request)
        if self.throttle.blocked(address):
            return await self.login_form(request, "Too many failed logins; wait a while.", 429)
        name = str(form.get("name", "")).strip()
        self.throttle.failed(address)  # counted before the check: parallel tries count too
        try:
            user = await accounts.authenticate(
                self.store, name, str(form.get("password", "")), str(form.get("code", ""))
            )
        except LoginFailed as exc:
            # A typed name that is no account may be a password typed in the wrong box:
            # it is not written down.
            known = await accounts.find_user(self.store, name) is not None
            target = f"user:{name}" if known else "user:(unknown name)"
            await record_event(self.store, f"ip:{address}", "login-failed", target)
            return await self.login_form(request, str(exc), 401)
        self.throttle.succeeded(address)
        token, _ = await accounts.start_session(self.store, user)
        await record_event(self.store, user.actor, "login", f"user:{user.name}")
        response = RedirectResponse("/", status_code=303)
        web.set_cookie(response, web.SESSION_COOKIE, token)
        web.clear_cookie(response, web.LOGIN_COOKIE)
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        await accounts.end_session(self.store, request.cookies.get(web.SESSION_COOKIE, ""))
        await record_event(self.store, session.user.actor, "logout", f"user:{session.user.name}")
        response = RedirectResponse("/login", status_code=303)
        web.clear_cookie(response, web.SESSION_COOKIE)
        return response

    # -- quarantine ---------------------------------------------------------------------

    async def home(self, request: Request, session: Session) -> Response:
        user = session.user
        target = next(
            path
            for path, roles in (
                ("/messages", READERS),
                ("/users", {Role.ADMIN}),
                ("/register", REGISTER_READERS),
                ("/policies", POLICY_READERS),
            )
            if user.has(*roles)
        )
        return RedirectResponse(target, status_code=303)

    async def export(self, request: Request, session: Session) -> Response:
        message_id = request.path_params["id"]
        raw = await self.review.export(session.user, message_id)
        return Response(
            raw,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{message_id}.eml"'},
        )


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _age(moment: dt.datetime) -> str:
    seconds = (dt.datetime.now(dt.UTC) - moment).total_seconds()
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"
