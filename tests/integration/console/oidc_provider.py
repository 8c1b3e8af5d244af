"""A small OpenID Connect provider on loopback, built from Authlib's server components.

``running_provider()`` serves, from a thread, what the console's single sign-on talks
to: a discovery document, a JWKS with one RSA key, an authorization endpoint with a
login form (every request shows it: like ``prompt=login``, a login is always fresh), and
a token endpoint issuing RS256-signed ID tokens with ``nonce``, ``auth_time`` and
``groups``.  Authlib's ``AuthorizationCodeGrant`` with ``OpenIDCode`` and
``CodeChallenge(required=True)`` checks the client, its secret, the redirect URI, the
code (once) and the PKCE verifier.  Tests read ``requests`` (what each authorization
request asked) and may set ``stale_login`` (the provider answers with an old
``auth_time``, as one ignoring ``prompt=login`` would).
"""

from __future__ import annotations

import contextlib
import html
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "safe-address-gateway"
CLIENT_SECRET = "test client secret, not a real one"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True)
class Person:
    """Someone who can log in at the provider."""

    name: str
    password: str
    email: str
    groups: tuple[str, ...]
    subject: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in {"openid", "profile", "email"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    nonce: str | None
    auth_time: int
    code_challenge: str | None
    code_challenge_method: str | None
    made: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    def is_expired(self) -> bool:
        return time.time() - self.made > 60


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: dict[str, str], data: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._data = data

    @property
    def args(self) -> dict[str, str]:
        return self._data

    @property
    def form(self) -> dict[str, str]:
        return self._data


class Provider:
    """The provider's state and its WSGI application."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.people = {p.name: p for p in people}
        self.issuer = ""  # set once the server has its port
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.requests: list[dict[str, str]] = []  # every authorization request's parameters
        self.stale_login = False
        self.server = self._server()

    def register(self, redirect_uri: str) -> None:
        self.clients[CLIENT_ID] = Client(CLIENT_ID, CLIENT_SECRET, (redirect_uri,))

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        """An ID token with ``claims``, signed by the provider's key (or ``key``)."""
        signer = key or self.key
        header = {"alg": "RS256", "kid": signer.kid or "test-key"}
        return jwt.encode(header, claims, signer, algorithms=["RS256"])

    def _server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):  # type: ignore[misc]
            def query_client(self, client_id: str) -> Client | None:
                return provider.clients.get(client_id)

            def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
                pass

            def create_oauth2_request(self, request: _Request) -> _Request:
                return request

            def handle_response(
                self, status: int, body: Any, headers: list[tuple[str, str]]
            ) -> tuple[int, Any, list[tuple[str, str]]]:
                return status, body, headers

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

            def save_authorization_code(self, code: str, request: _Request) -> None:
                data = request.payload.data
                now = int(time.time())
                provider.codes[code] = Code(
                    code,
                    request.client.get_client_id(),
                    data.get("redirect_uri", ""),
                    request.scope,
                    request.user,
                    data.get("nonce"),
                    now - 3600 if provider.stale_login else now,
                    data.get("code_challenge"),
                    data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                if found and found.client_id == client.get_client_id():
                    return found
                return None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Person:
                return authorization_code.person

        class IdToken(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, request: _Request) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return provider.key

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.get_client_id()]}

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": provider.key.kid or "test-key"}

            def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
                return {
                    "sub": user.subject,
                    "preferred_username": user.name,
                    "email": user.email,
                    "groups": list(user.groups),
                }

        server = Server()
        server.register_token_generator("default", BearerTokenGenerator(_token, None, None))
        server.register_grant(CodeGrant, [IdToken(require_nonce=True), CodeChallenge(True)])
        return server

    # -- WSGI ------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        data = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            data |= dict(urllib.parse.parse_qsl(environ["wsgi.input"].read(length).decode()))
        headers = {
            k[5:].replace("_", "-").title(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        request = _Request(method, self.issuer + path, headers, data)
        if path == "/.well-known/openid-configuration":
            return _json(start, 200, self.discovery())
        if path == "/jwks":
            return _json(start, 200, {"keys": [self.key.as_dict(private=False)]})
        if path == "/authorize" and method == "GET":
            self.requests.append(dict(data))
            self.server.get_consent_grant(request)  # refuses a bad client or redirect URI
            return _page(start, _login_form(data))
        if path == "/authorize" and method == "POST":
            return self._authorize(start, request, data)
        if path == "/token" and method == "POST":
            status, body, extra = self.server.create_token_response(request)
            return _json(start, status, body, extra)
        return _page(start, "not found", "404 Not Found")

    def _authorize(
        self, start: StartResponse, request: _Request, data: dict[str, str]
    ) -> list[bytes]:
        person = self.people.get(data.get("username", ""))
        if person is None or not secrets.compare_digest(person.password, data.get("password", "")):
            return _page(start, _login_form(data, "wrong name or password"), "401 Unauthorized")
        grant = self.server.get_consent_grant(request, end_user=person)
        status, _, extra = self.server.create_authorization_response(
            request, grant_user=person, grant=grant
        )
        start(f"{status} Redirect", [*extra, ("Content-Length", "0")])
        return [b""]

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": ["sub", "preferred_username", "email", "groups", "auth_time"],
        }


def _token(client: Client, grant_type: str, user: Person, scope: str) -> str:
    return secrets.token_urlsafe(24)


def _json(
    start: StartResponse, status: int, body: Any, extra: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start(f"{status} OK", [*headers, *(h for h in extra if h[0].lower() != "content-type")])
    return [data]


def _page(start: StartResponse, body: str, status: str = "200 OK") -> list[bytes]:
    data = f"<!doctype html><title>Test provider</title>{body}".encode()
    length = str(len(data))
    start(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", length)])
    return [data]


def _login_form(params: dict[str, str], error: str = "") -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in {"username", "password"}
    )
    shown = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    return (
        f'<h1>Test provider</h1>{shown}<form method="post" action="/authorize">{hidden}'
        '<label>Name <input name="username"></label>'
        '<label>Password <input name="password" type="password"></label>'
        "<button>Sign in</button></form>"
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextlib.contextmanager
def running_provider(people: Iterable[Person]) -> Iterator[Provider]:
    """The provider on a free loopback port, until the block ends."""
    provider = Provider(people)
    httpd = make_server(
        "127.0.0.1", 0, provider, server_class=_ThreadingServer, handler_class=_Quiet
    )
    provider.issuer = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
