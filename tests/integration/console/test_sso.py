"""Single sign-on through a real OpenID Connect provider on loopback (oidc_provider.py),
in front of a running ``gateway serve``: sign-in in Chromium, groups mapped to roles,
a release re-authenticated at the provider, password login switched off, nothing secret
in the gateway's log."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.integration.console.oidc_provider import (
    CLIENT_SECRET,
    Person,
    Provider,
    running_provider,
)
from tests.integration.console.test_browser import VIEWPORT, delivered, screenshots
from tests.integration.console_support import (
    ConsoleGateway,
    console_gateway,
    high_hold,
)
from tests.integration.smtp_support import free_port

PROVIDER_PASSWORD = "provider password of the test"
PEOPLE = (
    Person("rhian", PROVIDER_PASSWORD, "rhian@council.example.gov.uk", ("gw-reviewers", "staff")),
    Person("sam", PROVIDER_PASSWORD, "sam@council.example.gov.uk", ("staff",)),
    Person("aled", PROVIDER_PASSWORD, "aled@council.example.gov.uk", ("gw-auditors",)),
)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider(PEOPLE) as running:
        yield running


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[ConsoleGateway]:
    """A gateway whose console signs in through the provider only (no password form)."""
    folder = tmp_path_factory.mktemp("sso")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider.register(f"{url}/login/sso/callback")
    secret = folder / "client-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    config = folder / "gateway.toml"
    config.write_text(
        f'console_url = "{url}"\n'
        "console_local_login = false\n"
        f'oidc_issuer = "{provider.issuer}"\n'
        'oidc_client_id = "safe-address-gateway"\n'
        f'oidc_client_secret_file = "{secret}"\n'
        'oidc_display_name = "Test provider"\n'
        'oidc_group_roles = {"gw-reviewers" = "reviewer", "gw-auditors" = ["auditor"]}\n'
    )
    with console_gateway(folder, "--config", str(config), console_port=port) as running:
        yield running


def sign_in(browser: Browser, g: ConsoleGateway, name: str) -> Page:
    """A fresh browser context through the console's button and the provider's form."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{g.url}/login")
    page.screenshot(path=screenshots() / "sso-login.png")
    page.get_by_role("link", name="Sign in with Test provider").click()
    provider_login(page, name)
    return page


def provider_login(page: Page, name: str) -> None:
    page.wait_for_url(re.compile(r".*/authorize\?.*"))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PROVIDER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sso_sign_in_makes_a_reviewer_from_the_mapped_group(
    browser: Browser, g: ConsoleGateway, provider: Provider
) -> None:
    """A member of gw-reviewers signs in at the provider and lands on the quarantine as
    a reviewer; the account is made then (audited), tied to the provider, no password."""
    page = sign_in(browser, g, "rhian")
    page.wait_for_url(f"{g.url}/messages")
    assert "rhian (reviewer)" == page.locator("a.who").inner_text()
    page.screenshot(path=screenshots() / "sso-signed-in.png", full_page=True)
    asked = provider.requests[-1]
    assert ("S256", "code") == (asked["code_challenge_method"], asked["response_type"])
    assert asked["nonce"]
    assert asked["state"]
    users = g.cli("user", "list").stdout
    assert re.search(r"rhian\s+rhian@council.example.gov.uk\s+reviewer", users)
    trail = g.cli("audit", "list", "--target", "user:rhian").stdout
    assert "user-add" in trail
    assert "single sign-on" in trail
    page.context.close()


def test_a_release_by_an_sso_reviewer_signs_in_again_at_the_provider(
    browser: Browser, g: ConsoleGateway, provider: Provider
) -> None:
    """No password field: the release goes to the provider with prompt=login and
    max_age, and is done when the provider confirms the same person, freshly."""
    message_id = g.hold(high_hold("SSO release"))
    page = sign_in(browser, g, "rhian")
    page.wait_for_url(f"{g.url}/messages")
    page.goto(f"{g.url}/messages/{message_id}")
    form = page.locator("form.release")
    assert 0 == form.locator("input[name=password]").count()
    form.locator("textarea[name=reason]").fill("Landlord is the council's own agent")
    form.get_by_role("button", name="Release").click()
    provider_login(page, "rhian")
    page.wait_for_url(re.compile(rf".*/messages/{message_id}\?notice=released"))
    asked = provider.requests[-1]
    assert ("login", "0") == (asked["prompt"], asked["max_age"])
    assert 1 == len(delivered(g, message_id))
    page.context.close()


def test_a_release_on_a_stale_provider_login_is_refused_and_audited(
    browser: Browser, g: ConsoleGateway, provider: Provider
) -> None:
    """A provider that answers from an hour-old login (prompt=login ignored): the
    message stays held and the failed re-authentication is in the audit log."""
    message_id = g.hold(high_hold("SSO stale"))
    page = sign_in(browser, g, "rhian")
    page.wait_for_url(f"{g.url}/messages")
    page.goto(f"{g.url}/messages/{message_id}")
    form = page.locator("form.release")
    form.locator("textarea[name=reason]").fill("Stale login try")
    provider.stale_login = True
    try:
        form.get_by_role("button", name="Release").click()
        provider_login(page, "rhian")
        page.wait_for_load_state()
        assert "fresh sign-in" in page.content()
    finally:
        provider.stale_login = False
    assert message_id in g.cli("quarantine", "list", "--status", "held").stdout
    assert "reauth-failed" in g.cli("audit", "list", "--target", message_id).stdout
    page.context.close()


def test_a_person_without_a_mapped_group_gets_no_account(
    browser: Browser, g: ConsoleGateway
) -> None:
    """Signed in at the provider, but in no group the settings map: refused, no account."""
    page = sign_in(browser, g, "sam")
    page.wait_for_url(re.compile(r".*/login/sso/callback.*"))
    assert "no role" in page.locator("p.error").inner_text()
    assert "sam" not in g.cli("user", "list").stdout
    page.context.close()


def test_without_local_login_the_password_form_is_gone_and_refused(g: ConsoleGateway) -> None:
    """console_local_login = false: no password form, and a posted one is refused."""
    with httpx.Client(base_url=g.url, timeout=30) as client:
        page = client.get("/login")
        assert 'name="password"' not in page.text
        assert "Sign in with Test provider" in page.text
        token = page.cookies["__Host-login"]
        client.cookies.set("__Host-login", token)
        form = {"name": "ada", "password": "correct horse battery staple", "csrf": token}
        assert 403 == client.post("/login", data=form).status_code


def test_a_callback_with_a_forged_state_is_refused(g: ConsoleGateway, provider: Provider) -> None:
    """A callback whose state this console never handed out (or without the browser's
    cookie): refused before any code is traded."""
    with httpx.Client(base_url=g.url, timeout=30) as client:
        started = client.get("/login/sso")
        assert 303 == started.status_code
        query = urllib.parse.urlsplit(started.headers["location"]).query
        state = dict(urllib.parse.parse_qsl(query))["state"]
        forged = client.get("/login/sso/callback", params={"state": "forged", "code": "x"})
        no_cookie = client.get("/login/sso/callback", params={"state": state, "code": "x"})
    assert (401, 401) == (forged.status_code, no_cookie.status_code)
    assert "out of date" in no_cookie.text


def test_the_gateway_log_holds_no_code_token_state_or_secret(
    browser: Browser, g: ConsoleGateway, provider: Provider
) -> None:
    """After sign-ins and a release: none of the provider's codes, the client secret,
    the state or nonce of the trips appear in the gateway's log."""
    page = sign_in(browser, g, "aled")
    page.wait_for_url(f"{g.url}/messages")
    page.context.close()
    log = g.gateway.logs()
    assert CLIENT_SECRET not in log
    for asked in provider.requests:
        assert asked["state"] not in log
        assert asked["nonce"] not in log
        assert asked["code_challenge"] not in log
    assert "code=" not in log
    assert "eyJ" not in log  # no JWT


# Last in the module: it leaves 127.0.0.1 throttled for the module's gateway.
def test_failed_callbacks_count_as_failed_logins_and_are_throttled(
    browser: Browser, g: ConsoleGateway
) -> None:
    """Forged callbacks from one address count like wrong passwords: after ten, even a
    real sign-in from there is refused with 429 until the window passes. (Refusals by
    earlier tests in this module came from the same address, so the 429 may come
    sooner than the eleventh.)"""
    with httpx.Client(base_url=g.url, timeout=30) as client:
        codes = [
            client.get(
                "/login/sso/callback", params={"state": f"forged{n}", "code": "x"}
            ).status_code
            for n in range(12)
        ]
    first = codes.index(429)  # ValueError: never throttled
    assert codes[0] == 401
    assert set(codes[:first]) == {401}
    assert set(codes[first:]) == {429}
    page = sign_in(browser, g, "rhian")
    page.wait_for_url(f"{g.url}/login/sso/callback*")
    assert "Too many failed logins" in page.content()
    page.context.close()
