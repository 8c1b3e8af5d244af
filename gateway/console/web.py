"""review (console): HTTP plumbing: security headers, session cookies, CSRF, throttling.

* Every response gets a strict Content-Security-Policy (nothing from other sites, no
  inline script, no frames), ``Cache-Control: no-store`` (pages show held mail),
  ``X-Content-Type-Options``, ``Referrer-Policy`` and ``X-Frame-Options``.
* The session cookie is ``__Host-session``: Secure, HttpOnly, SameSite=Strict, Path=/,
  no Domain.  Browsers accept Secure cookies over plain HTTP only on loopback, so
  anything else must reach the console over TLS (``console_tls_cert``).
* Each session has its own CSRF token, required in every state-changing form; the login
  form, which has no session yet, uses a double-submit cookie (``__Host-login``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "__Host-session"
LOGIN_COOKIE = "__Host-login"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response, replacing any set."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="strict")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: object, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(given, expected)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Throttle:
    """At most ``limit`` failed logins per client address in ``window`` seconds."""

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, address: str) -> bool:
        failures = self._failures.get(address)
        if not failures:
            return False
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        return len(failures) >= self.limit

    def succeeded(self, address: str) -> None:
        """The attempt counted for ``address`` was a good login: it does not count."""
        failures = self._failures.get(address)
        if failures:
            failures.pop()

    def failed(self, address: str) -> None:
        self._failures.setdefault(address, deque()).append(time.monotonic())
        if len(self._failures) > 10_000:  # bounded: forget the oldest addresses
            self._failures.pop(next(iter(self._failures)))
