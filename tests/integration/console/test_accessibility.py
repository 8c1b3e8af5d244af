"""Every console page checked with axe-core (WCAG 2.2 AA rules) in a real browser
(Playwright driving Debian's Chromium) in front of ``gateway serve``, and the list and
message pages at a phone's width (390 px) without sideways scrolling of the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from tests.integration.console.test_browser import (
    VIEWPORT,
    screenshots,
)
from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    high_hold,
)

PHONE: ViewportSize = {"width": 390, "height": 844}
#: axe-core's tags for the WCAG 2.0, 2.1 and 2.2 A and AA success criteria
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = {"serious", "critical"}
FOCUSABLE = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]"
AXE = Axe()


class Console:
    """The running gateway, a critical and a high hold, and one signed-in browser
    context per account (signing in once each keeps the module fast)."""

    def __init__(self, g: ConsoleGateway, browser: Browser) -> None:
        self.g = g
        self.browser = browser
        self.critical = g.hold()
        self.high = g.hold(high_hold())
        self.contexts: dict[tuple[str, int], BrowserContext] = {}

    def page(self, name: str, viewport: ViewportSize = VIEWPORT) -> Page:
        """A new page in ``name``'s signed-in context ("" for no session)."""
        key = (name, viewport["width"])
        if key not in self.contexts:
            context = self.browser.new_context(viewport=viewport)
            self.contexts[key] = context
            if name:
                page = context.new_page()
                page.goto(f"{self.g.url}/login")
                page.locator("input[name=name]").fill(name)
                page.locator("input[name=password]").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(lambda url: "/login" not in url)
                page.close()
        return self.contexts[key].new_page()


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory,
    browser: Browser,
) -> Iterator[Console]:
    with console_gateway(tmp_path_factory.mktemp("a11y")) as g:
        added = g.cli(
            "user", "add", "reg", "--email", "reg@council.example.gov.uk",
            "--role", "register-admin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert 0 == added.returncode, added.stderr
        running = Console(g, browser)
        yield running
        for context in running.contexts.values():
            context.close()


def violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on ``page``, one line each with the
    rule and the elements it failed on."""
    options = {"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    found: list[dict[str, Any]] = AXE.run(page, options=options).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in BLOCKING
    ]


def _go(path: str, status: int = 200) -> Callable[[Console, Page], None]:
    def go(c: Console, page: Page) -> None:
        response = page.goto(f"{c.g.url}{path.format(critical=c.critical, high=c.high)}")
        assert response is not None
        assert status == response.status, page.url

    return go


def _bulk_result(c: Console, page: Page) -> None:
    _go("/messages?status=held")(c, page)
    page.locator(f"tr[data-id={c.high}] input[type=checkbox]").check()
    bulk = page.locator("fieldset.bulk")
    bulk.get_by_label("Decision").select_option("false-positive")
    bulk.get_by_label("Reason (one for all)").fill("Only checking how the page reads")
    bulk.get_by_role("button", name="Decide").click()
    page.wait_for_url(f"{c.g.url}/messages/bulk")
    assert "Bulk decision: false-positive" == page.locator("h1").inner_text()


def _totp_enrolment(c: Console, page: Page) -> None:
    _go("/account")(c, page)
    form = page.locator("form.totp")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Set up").click()
    page.wait_for_load_state()
    assert 1 == page.locator("figure.qr svg").count()


#: page -> (account, how to get there)
PAGES: dict[str, tuple[str, Callable[[Console, Page], None]]] = {
    "login": ("", _go("/login")),
    "login-failed": ("", lambda c, page: _failed_login(c, page)),
    "home": ("rita", _go("/")),
    "list": ("rita", _go("/messages")),
    "list-empty": ("rita", _go("/messages?subject=nothing+has+this")),
    "message-critical": ("rita", _go("/messages/{critical}")),
    "message-high": ("sue", _go("/messages/{high}")),
    "message-as-auditor": ("aud", _go("/messages/{critical}")),
    "bulk-result": ("rob", _bulk_result),
    "audit": ("aud", _go("/audit")),
    "users": ("ada", _go("/users")),
    "account": ("rita", _go("/account")),
    "account-totp-enrolment": ("rob", _totp_enrolment),
    "register": ("reg", _go("/register")),
    "policies": ("aud", _go("/policies")),
    "error-403": ("rita", _go("/users", 403)),
    "error-404-message": ("rita", _go("/messages/no-such-message", 404)),
    "error-404-route": ("rita", _go("/no/such/page", 404)),
    "error-404-signed-out": ("", _go("/no/such/page", 404)),
    "error-sso-not-set-up": ("", _go("/login/sso", 404)),
}


def _failed_login(c: Console, page: Page) -> None:
    _go("/login")(c, page)
    page.locator("input[name=name]").fill("rita")
    page.locator("input[name=password]").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert 1 == page.locator("p.error[role=alert]").count()


@pytest.mark.parametrize("name", PAGES)
def test_page_has_no_serious_accessibility_violation(console: Console, name: str) -> None:
    """axe-core finds no serious or critical WCAG 2.2 AA violation on the page."""
    account, go = PAGES[name]
    page = console.page(account)
    try:
        go(console, page)
        assert [] == violations(page), f"{name} at {page.url}"
    finally:
        page.close()


@pytest.mark.parametrize("name", ["login", "list", "message-critical", "error-403"])
def test_page_is_usable_at_a_phone_width(console: Console, name: str) -> None:
    """At 390 px wide the page does not scroll sideways (wide tables scroll in their
    own box), the skip link is the first thing the keyboard reaches, and axe-core finds
    no serious violation."""
    account, go = PAGES[name]
    page = console.page(account, PHONE)
    try:
        go(console, page)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} is {width} px wide"
        if name in ("list", "message-critical"):
            page.screenshot(path=screenshots() / f"{name}-390px.png", full_page=False)
        assert [] == violations(page), f"{name} at {page.url}"
        first = page.evaluate(f"document.querySelector({FOCUSABLE!r}).textContent")
        assert "Skip to content" == first.strip()
        if name != "login":  # the login page puts the focus on the user name itself
            page.keyboard.press("Tab")
            assert "Skip to content" == page.evaluate("document.activeElement.textContent")
        skip = page.get_by_role("link", name="Skip to content")
        skip.focus()
        box = skip.bounding_box()
        assert box is not None
        assert box["y"] >= 0, "the focused skip link is off the screen"
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: url.endswith("#main"))
        assert "main" == page.evaluate("document.querySelector(':target').id")
    finally:
        page.close()


@pytest.mark.parametrize(("account", "path", "heading"), [
    ("rita", "/no/such/page", "Not found"),
    ("", "/no/such/page", "Not found"),
    ("rita", "/users", "Not allowed"),
    ("rita", "/messages/no-such-message", "Not found"),
])  # fmt: skip
def test_error_pages_use_the_console_layout(
    console: Console, account: str, path: str, heading: str
) -> None:
    """Errors, Starlette's own included, are the console's styled page: its heading and
    stylesheet, and the navigation for a signed-in user."""
    page = console.page(account)
    try:
        page.goto(f"{console.g.url}{path}")
        assert heading == page.locator("main h1").inner_text()
        assert 1 == page.locator("p.error[role=alert]").count()
        sheets = page.evaluate("[...document.styleSheets].map(s => s.href)")
        assert [f"{console.g.url}/static/console.css"] == sheets
        assert (1 if account else 0) == page.get_by_role("link", name="Quarantine").count()
    finally:
        page.close()
