"""Admins change roles and reset second factors in the console; a compulsory second
factor; the authenticator set-up by QR code (in Chromium, and in the log: no secret)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page

from tests.integration.console.test_browser import VIEWPORT, screenshots
from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    csrf_token,
    http_login,
)


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    with console_gateway(tmp_path_factory.mktemp("admin")) as running:
        yield running


def log_in(browser: Browser, g: ConsoleGateway, name: str, code: str = "") -> Page:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{g.url}/login")
    page.locator("input[name=name]").fill(name)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=code]").fill(code)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    return page


def users_row(page: Page, name: str) -> object:
    return page.locator("table.users tr").filter(has=page.locator(f"td:text-is('{name}')"))


def test_a_role_change_by_an_admin_takes_effect_at_once(
    browser: Browser, g: ConsoleGateway
) -> None:
    """rob, a reviewer, has the quarantine open; the admin makes him an auditor; rob's
    next page already shows the audit log link and no release form, and it is audited."""
    rob = log_in(browser, g, "rob")
    rob.wait_for_url(f"{g.url}/messages")
    assert 0 == rob.get_by_role("link", name="Audit log").count()
    ada = log_in(browser, g, "ada")
    ada.wait_for_url(f"{g.url}/users")
    form = ada.locator("form.roles").filter(has=ada.locator("legend:text-is('Roles of rob')"))
    form.get_by_label("reviewer").uncheck()
    form.get_by_label("auditor").check()
    form.get_by_role("button", name="Change roles").click()
    ada.wait_for_url(f"{g.url}/users?notice=user-changed")
    ada.screenshot(path=screenshots() / "users-roles.png", full_page=True)
    rob.reload()
    assert "rob (auditor)" == rob.locator("a.who").inner_text()
    assert 1 == rob.get_by_role("link", name="Audit log").count()
    trail = g.cli("audit", "list", "--target", "user:rob").stdout
    assert re.search(r"user:ada\s+user-roles\s+user:rob\s+roles auditor \(were reviewer\)", trail)
    rob.context.close()
    ada.context.close()


def test_totp_enrolment_by_qr_code(browser: Browser, g: ConsoleGateway) -> None:
    """The set-up shows a QR code (inline SVG, no script) and the key as text; the code
    the app makes from that key turns the second factor on; the log has neither."""
    page = log_in(browser, g, "sue")
    page.goto(f"{g.url}/account")
    totp = page.locator("form.totp")
    totp.get_by_label("Current password").fill(PASSWORD)
    totp.get_by_role("button", name="Set up").click()
    page.wait_for_load_state()
    qr = page.locator("figure.qr svg")
    assert 1 == qr.count()
    assert "QR code of the key" == qr.get_attribute("aria-label")
    assert qr.locator("path").count() >= 1
    assert 0 == page.locator("script").count()
    page.screenshot(path=screenshots() / "totp-qr.png", full_page=True)
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_url(f"{g.url}/account?notice=totp-on")
    log = g.gateway.logs()
    assert secret not in log
    assert "otpauth" not in log
    page.context.close()
    again = log_in(browser, g, "sue", pyotp.TOTP(secret).now())
    again.wait_for_url(f"{g.url}/messages")
    again.context.close()


def test_a_second_factor_reset_by_an_admin_is_audited_and_ends_sessions(g: ConsoleGateway) -> None:
    """The CLI gave aud an authenticator; the admin resets it in the console: audited,
    aud's session ends, and the password alone logs in again."""
    enrolled = g.cli("user", "totp", "aud")
    secret = re.search(r"secret=([A-Z2-7]+)", enrolled.stdout)
    assert secret is not None
    with httpx.Client(base_url=g.url, timeout=30) as aud:
        assert 303 == http_login(aud, "aud", code=pyotp.TOTP(secret.group(1)).now()).status_code
        assert 200 == aud.get("/audit").status_code
        with httpx.Client(base_url=g.url, timeout=30) as ada:
            assert 303 == http_login(ada, "ada").status_code
            change = {"csrf": csrf_token(ada, "/users"), "name": "aud", "change": "totp-reset"}
            assert 303 == ada.post("/users", data=change).status_code
        assert "/login" == aud.get("/audit").headers["location"]
    with httpx.Client(base_url=g.url, timeout=30) as aud:
        assert 303 == http_login(aud, "aud").status_code
    trail = g.cli("audit", "list", "--target", "user:aud").stdout
    assert re.search(r"user:ada\s+user-totp-reset\s+user:aud", trail)


def test_an_admin_cannot_drop_their_own_admin_role(g: ConsoleGateway) -> None:
    """Refused (403), so the console never loses its last way to manage accounts."""
    with httpx.Client(base_url=g.url, timeout=30) as ada:
        assert 303 == http_login(ada, "ada").status_code
        change = {
            "csrf": csrf_token(ada, "/users"),
            "name": "ada",
            "change": "roles",
            "roles": "auditor",
        }
        assert 403 == ada.post("/users", data=change).status_code
    assert "ada  ada@council.example.gov.uk  admin" in g.cli("user", "list").stdout


def test_role_and_reset_changes_need_an_admin(g: ConsoleGateway) -> None:
    """A reviewer posting the admin's form is refused, and nothing changes."""
    with httpx.Client(base_url=g.url, timeout=30) as rita:
        assert 303 == http_login(rita, "rita").status_code
        csrf = csrf_token(rita, "/account")
        change = {"csrf": csrf, "name": "rita", "change": "roles", "roles": "admin"}
        assert 403 == rita.post("/users", data=change).status_code
    assert re.search(r"rita\s+\S+\s+reviewer\n", g.cli("user", "list").stdout)


def test_a_compulsory_second_factor_sends_a_user_to_enrol_first(tmp_path: Path) -> None:
    """console_require_totp: a password account without TOTP is sent to its account
    page from every other page until it has set one up; then the console opens."""
    config = tmp_path / "gateway.toml"
    config.write_text("console_require_totp = true\n")
    with (
        console_gateway(tmp_path, "--config", str(config)) as g,
        httpx.Client(base_url=g.url, timeout=30) as client,
    ):
        assert 303 == http_login(client, "rita").status_code
        for path in ("/", "/messages", "/audit"):
            sent = client.get(path)
            assert (303, "/account?notice=totp-required") == (
                sent.status_code,
                sent.headers["location"],
            )
        page = client.get("/account?notice=totp-required")
        assert "set up an authenticator app before anything else" in page.text
        csrf = csrf_token(client, "/account")
        started = client.post(
            "/account", data={"csrf": csrf, "change": "totp-start", "current": PASSWORD}
        )
        assert "<svg" in started.text
        hidden = dict(re.findall(r'name="(secret|issued|proof)" value="([^"]*)"', started.text))
        code = pyotp.TOTP(hidden["secret"]).now()
        confirm = {"csrf": csrf, "change": "totp-confirm", "code": code, **hidden}
        assert 303 == client.post("/account", data=confirm).status_code
        assert 200 == client.get("/messages").status_code


def test_the_cli_sets_roles_too(g: ConsoleGateway) -> None:
    """``gateway user roles``: the same change from the command line, audited."""
    done = g.cli("user", "roles", "officer", "--role", "senior,auditor")
    assert 0 == done.returncode, done.stderr
    assert "roles auditor,senior" in done.stdout
    assert re.search(r"officer\s+\S+\s+auditor,senior", g.cli("user", "list").stdout)
    trail = g.cli("audit", "list", "--target", "user:officer").stdout
    assert "user-roles" in trail
    assert "(were senior)" in trail
    assert 2 == g.cli("user", "roles", "officer", "--role", "boss").returncode
