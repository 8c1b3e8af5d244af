"""A user's own account page: change the password, turn on an authenticator app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    csrf_token,
    http_login,
)

NEW_PASSWORD = "a different long password"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ConsoleGateway]:
    with console_gateway(tmp_path) as g:
        yield g


def _client(g: ConsoleGateway) -> httpx.Client:
    return httpx.Client(base_url=g.url, timeout=30)


def test_changing_the_password_needs_the_old_one_and_ends_the_session(
    running: ConsoleGateway,
) -> None:
    """Wrong current password or a mistyped repeat: refused; done: log in again, new one."""
    with _client(running) as client:
        assert 303 == http_login(client, "rita").status_code
        csrf = csrf_token(client, "/account")
        change = {"csrf": csrf, "change": "password", "password": NEW_PASSWORD}
        wrong = client.post("/account", data={**change, "current": "nope", "again": NEW_PASSWORD})
        differ = client.post("/account", data={**change, "current": PASSWORD, "again": "x" * 12})
        assert (400, 400) == (wrong.status_code, differ.status_code)
        assert "differ" in differ.text
        done = client.post("/account", data={**change, "current": PASSWORD, "again": NEW_PASSWORD})
        assert (303, "/login") == (done.status_code, done.headers["location"])
        assert "/login" == client.get("/messages").headers["location"]
    with _client(running) as client:
        assert 401 == http_login(client, "rita").status_code
        assert 303 == http_login(client, "rita", NEW_PASSWORD).status_code
    trail = running.cli("audit", "list", "--target", "user:rita").stdout
    assert "password-change" in trail


def test_an_authenticator_app_is_confirmed_then_needed_at_login(running: ConsoleGateway) -> None:
    """Set-up shows a key, a wrong code is refused, the right one turns it on; then the
    password alone no longer logs in, and the admin can turn it off from the CLI."""
    with _client(running) as client:
        assert 303 == http_login(client, "rob").status_code
        csrf = csrf_token(client, "/account")
        started = client.post(
            "/account", data={"csrf": csrf, "change": "totp-start", "current": PASSWORD}
        )
        hidden = dict(re.findall(r'name="(secret|issued|proof)" value="([^"]*)"', started.text))
        secret = re.fullmatch(r"[A-Z2-7]+", hidden["secret"])
        assert secret is not None
        confirm = {"csrf": csrf, "change": "totp-confirm", **hidden}
        assert 400 == client.post("/account", data={**confirm, "code": "000000"}).status_code
        planted = pyotp.random_base32()  # a secret of someone holding the session only
        forged = {**confirm, "secret": planted, "code": pyotp.TOTP(planted).now()}
        assert 403 == client.post("/account", data=forged).status_code
        code = pyotp.TOTP(secret.group()).now()
        assert 303 == client.post("/account", data={**confirm, "code": code}).status_code
    with _client(running) as client:
        assert 401 == http_login(client, "rob").status_code
        code = pyotp.TOTP(secret.group()).now()
        assert 303 == http_login(client, "rob", code=code).status_code
    assert 0 == running.cli("user", "totp-off", "rob").returncode
    with _client(running) as client:
        assert 303 == http_login(client, "rob").status_code


def test_account_changes_need_the_csrf_token(running: ConsoleGateway) -> None:
    """Without the form's token the password stays as it was."""
    with _client(running) as client:
        assert 303 == http_login(client, "sue").status_code
        change = {
            "change": "password",
            "current": PASSWORD,
            "password": NEW_PASSWORD,
            "again": NEW_PASSWORD,
        }
        assert 403 == client.post("/account", data=change).status_code
        assert 403 == client.post("/account", data={**change, "csrf": "forged"}).status_code
    with _client(running) as client:
        assert 303 == http_login(client, "sue").status_code
