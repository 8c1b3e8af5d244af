"""The review console in a real browser (Playwright driving Debian's Chromium) in front of
a running ``gateway serve``: log in, review, release, reject, roles, logout, expiry."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from tests.integration.console_support import (
    PASSWORD,
    SENDER,
    ConsoleGateway,
    console_gateway,
    high_hold,
)
from tests.integration.smtp_support import REPO, Received
from tests.integration.support import SAFE_ADDRESS

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
LogIn = Callable[[ConsoleGateway, str], Page]


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    """One gateway for the module (starting one takes seconds); each test holds its own
    messages and looks at the upstream only for those."""
    with console_gateway(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture
def log_in(browser: Browser) -> Iterator[LogIn]:
    """``log_in(g, name)``: a page in a fresh browser context (own cookies), logged in."""
    contexts: list[BrowserContext] = []

    def open_as(g: ConsoleGateway, name: str) -> Page:
        contexts.append(browser.new_context(viewport=VIEWPORT))
        page = contexts[-1].new_page()
        page.goto(f"{g.url}/login")
        page.locator("input[name=name]").fill(name)
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{g.url}/users" if name == "ada" else f"{g.url}/messages")
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshots() -> Path:
    folder = Path(os.environ.get("GATEWAY_SCREENSHOTS") or REPO / "test-artifacts/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def release(page: Page, reason: str) -> None:
    """Fill and submit the release form of the open message."""
    form = page.locator("form.release")
    form.locator("textarea[name=reason]").fill(reason)
    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Release").click()
    page.wait_for_load_state()


def notice(page: Page) -> str:
    return page.locator("p.notice").inner_text()


def error(page: Page) -> str:
    return page.locator("p.error[role=alert]").inner_text()


def delivered(g: ConsoleGateway, message_id: str, wait: float = 10.0) -> list[Received]:
    """What the upstream took that names ``message_id`` (a release, a notice), once there
    is some or ``wait`` seconds passed."""
    deadline = time.monotonic() + wait
    while True:
        found = [m for m in g.upstream.messages if message_id.encode() in m.content]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def listed(g: ConsoleGateway, status: str) -> str:
    result = g.cli("quarantine", "list", "--status", status)
    assert 0 == result.returncode, result.stderr
    return result.stdout


def test_reviewer_releases_a_high_hold_which_arrives_once(g: ConsoleGateway, log_in: LogIn) -> None:
    """A reviewer finds a high hold, sees the evidence marked, releases it, and it arrives once."""
    message_id = g.hold(high_hold())
    page = log_in(g, "rita")
    link = page.get_by_role("link", name=message_id)
    assert 1 == link.count()
    page.screenshot(path=screenshots() / "quarantine-list.png", full_page=True)

    link.click()
    page.wait_for_url(f"{g.url}/messages/{message_id}")
    marks = page.locator("article.part mark").all_inner_texts()
    assert marks, "no evidence highlighted"
    assert all(m.strip() and m in SAFE_ADDRESS for m in marks), marks
    page.screenshot(path=screenshots() / "message-view.png", full_page=True)

    release(page, "Landlord needs the address; confirmed with the case officer")
    assert "Released: the upstream accepted the message." == notice(page)
    received = delivered(g, message_id)
    assert 1 == len(received)
    assert re.search(
        rb"^X-Safe-Address-Released: " + message_id.encode(), received[0].content, re.M
    )
    assert SAFE_ADDRESS.encode() in received[0].content
    assert message_id in listed(g, "released")
    time.sleep(0.5)  # a duplicate delivery would come right after the first
    assert 1 == len(delivered(g, message_id))


def test_critical_hold_needs_two_people_the_second_a_senior(
    g: ConsoleGateway, log_in: LogIn
) -> None:
    """A critical hold is released only by a second, senior reviewer after a first approval."""
    message_id = g.hold()
    url = f"{g.url}/messages/{message_id}"
    rita = log_in(g, "rita")
    rita.goto(url)
    release(rita, "Checked with the case officer")
    assert notice(rita).startswith("Approved.")
    assert [] == delivered(g, message_id, wait=0.5)
    assert message_id in listed(g, "held")
    assert "Approved by: rita" == rita.locator("p.approvals").inner_text()

    # The first approver is offered no second release, and is told why.
    assert 0 == rita.locator("form.release").count()
    waiting = "You approved this; waiting for a second, senior reviewer."
    assert waiting == rita.locator("section.actions p.waiting").inner_text()

    rob = log_in(g, "rob")
    rob.goto(url)
    assert 0 == rob.locator("form.release").count()
    assert "must come from a senior reviewer" in rob.locator("p.waiting").inner_text()
    assert [] == delivered(g, message_id, wait=0.5)
    assert message_id in listed(g, "held")

    sue = log_in(g, "sue")
    sue.goto(url)
    release(sue, "Senior second approval")
    assert "Released: the upstream accepted the message." == notice(sue)
    received = delivered(g, message_id)
    assert 1 == len(received)
    assert b"X-Safe-Address-Released: " + message_id.encode() in received[0].content
    assert message_id in listed(g, "released")


def test_sender_cannot_release_their_own_message(g: ConsoleGateway, log_in: LogIn) -> None:
    """The sender sees the release button disabled, and a release forced anyway is refused."""
    message_id = g.hold(high_hold())
    page = log_in(g, "officer")
    page.goto(f"{g.url}/messages/{message_id}")
    assert SENDER in page.locator("section.envelope").inner_text()
    assert "You sent this message" in page.locator("section.actions p.error").inner_text()
    button = page.locator("form.release").get_by_role("button", name="Release")
    assert button.is_disabled()

    button.evaluate("b => b.removeAttribute('disabled')")
    release(page, "I know it is fine")
    assert f"Message {message_id}" == page.locator("h1").inner_text()
    assert "sender of a message cannot release it" in error(page)
    assert "I know it is fine" == page.locator("form.release textarea[name=reason]").input_value()
    assert [] == delivered(g, message_id, wait=0.5)
    assert message_id in listed(g, "held")


def test_reviewer_cannot_open_admin_pages(g: ConsoleGateway, log_in: LogIn) -> None:
    """A reviewer gets a 403 page for /users and /audit, while an admin can open /users."""
    rita = log_in(g, "rita")
    for path in ("/users", "/audit"):
        response = rita.goto(f"{g.url}{path}")
        assert response is not None
        assert 403 == response.status
        assert "may not open" in error(rita)
    ada = log_in(g, "ada")
    response = ada.goto(f"{g.url}/users")
    assert response is not None
    assert 200 == response.status
    assert "Users" == ada.locator("h1").inner_text()
    assert "rita" in ada.locator("table.users").inner_text()
    ada.screenshot(path=screenshots() / "users.png", full_page=True)


def page_with_cookie(browser: Browser, g: ConsoleGateway, token: str) -> str:
    """The URL a fresh browser context lands on for /messages with this session cookie."""
    host = g.url.split("//", 1)[1].split(":", 1)[0]
    with browser.new_context(viewport=VIEWPORT) as fresh:
        fresh.add_cookies(
            [
                {
                    "name": "__Host-session",
                    "value": token,
                    "domain": host,
                    "path": "/",
                    "secure": True,
                    "httpOnly": True,
                    "sameSite": "Strict",
                }
            ]
        )
        page = fresh.new_page()
        page.goto(f"{g.url}/messages")
        return page.url


def test_logout_ends_the_session(browser: Browser, g: ConsoleGateway, log_in: LogIn) -> None:
    """After logging out, the console asks for a login, even with the old session cookie."""
    page = log_in(g, "rita")
    cookies = page.context.cookies()
    assert ["__Host-session"] == [c["name"] for c in cookies]
    token = cookies[0]["value"]
    assert f"{g.url}/messages" == page_with_cookie(browser, g, token)  # the copy works

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{g.url}/login")
    page.goto(f"{g.url}/messages")
    assert f"{g.url}/login" == page.url
    assert "__Host-session" not in [c["name"] for c in page.context.cookies()]
    assert f"{g.url}/login" == page_with_cookie(browser, g, token)


def test_idle_session_expires(
    log_in: LogIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session unused for longer than the idle timeout ends: the next page is the login."""
    idle = 2.0
    monkeypatch.setenv("GATEWAY_CONSOLE_IDLE_TIMEOUT", str(idle))
    with console_gateway(tmp_path) as g:
        page = log_in(g, "rita")
        page.goto(f"{g.url}/messages")
        assert f"{g.url}/messages" == page.url
        time.sleep(idle + 0.5)
        page.goto(f"{g.url}/messages")
        assert f"{g.url}/login" == page.url


def test_reject_without_telling_the_sender(g: ConsoleGateway, log_in: LogIn) -> None:
    """A reviewer rejects a hold without telling the sender: it is rejected and nothing is sent."""
    message_id = g.hold(high_hold())
    page = log_in(g, "rita")
    page.goto(f"{g.url}/messages/{message_id}")
    form = page.locator("form.reject")
    form.locator("textarea[name=reason]").fill("The landlord must not get this address")
    checkbox = form.get_by_label("Tell the sender")
    checkbox.uncheck()
    assert not checkbox.is_checked()
    form.get_by_role("button", name="Reject").click()
    page.wait_for_load_state()

    assert "Rejected: the message will not be delivered." == notice(page)
    assert message_id in listed(g, "rejected")
    assert message_id not in listed(g, "held")
    assert [] == delivered(g, message_id, wait=0.5)
