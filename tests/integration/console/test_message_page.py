"""The message page in a real browser (Playwright driving Debian's Chromium) in front of
a running ``gateway serve``: findings in words, the whole address highlighted, content
first with the decision beside it, errors shown in place with the reason kept, Release
hidden from the first approver, and a false positive that releases or keeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.integration.console.test_browser import (
    VIEWPORT,
    delivered,
    error,
    listed,
    notice,
    release,
    screenshots,
)
from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    high_hold,
    leak,
)
from tests.integration.support import MARK, SAFE_ADDRESS

CASE = "DA-2025-0142"
LogIn = Callable[[ConsoleGateway, str], Page]


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    """One gateway for the module; each test holds its own messages."""
    with console_gateway(tmp_path_factory.mktemp("message-page")) as running:
        yield running


@pytest.fixture
def log_in(browser: Browser) -> Iterator[LogIn]:
    """``log_in(g, name)``: a page in a fresh browser context, logged in."""
    contexts: list[BrowserContext] = []

    def open_as(g: ConsoleGateway, name: str) -> Page:
        contexts.append(browser.new_context(viewport=VIEWPORT))
        page = contexts[-1].new_page()
        page.goto(f"{g.url}/login")
        page.locator("input[name=name]").fill(name)
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{g.url}/messages")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_a_wrong_password_keeps_the_reason(g: ConsoleGateway, log_in: LogIn) -> None:
    """A wrong password on Release shows the message page again with the error by the
    form and the typed reason still there (never the password); the right one releases."""
    message_id = g.hold(high_hold())
    page = log_in(g, "rita")
    page.goto(f"{g.url}/messages/{message_id}")
    reason = "Landlord needs the address; confirmed with the case officer"
    form = page.locator("form.release")
    form.locator("textarea[name=reason]").fill(reason)
    form.locator("input[name=password]").fill("not my password")
    with page.expect_response(f"{g.url}/messages/{message_id}/release") as sent:
        form.get_by_role("button", name="Release").click()
    assert 401 == sent.value.status

    assert f"Message {message_id}" == page.locator("h1").inner_text()
    assert "Wrong password or code" in form.locator("p.error[role=alert]").inner_text()
    assert reason == form.locator("textarea[name=reason]").input_value()
    assert "" == form.locator("input[name=password]").input_value()
    assert "" == page.locator("form.reject textarea[name=reason]").input_value()
    page.screenshot(path=screenshots() / "message-wrong-password.png", full_page=True)
    assert message_id in listed(g, "held")
    assert [] == delivered(g, message_id, wait=0.5)

    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Release").click()
    page.wait_for_load_state()
    assert "Released: the upstream accepted the message." == notice(page)
    assert 1 == len(delivered(g, message_id))


def test_findings_read_as_sentences_and_the_whole_address_is_marked(
    g: ConsoleGateway, log_in: LogIn
) -> None:
    """Each finding is a plain sentence (the code name only in small print), the rule
    is described in words, and the address is highlighted whole: flat to postcode."""
    message_id = g.hold(leak())
    page = log_in(g, "rita")
    page.goto(f"{g.url}/messages/{message_id}")
    reasons = page.locator("ul.reasons > li")
    sentences = reasons.all_inner_texts()
    assert sentences[0].startswith(f"The recipient {MARK} is a restricted contact of case {CASE}.")
    address = f"The body contains the protected address of case {CASE}."
    assert any(s.startswith(address) for s in sentences), sentences
    codes = page.locator("ul.reasons small.code").all_inner_texts()
    assert codes[0].startswith("restricted_recipient")
    rules = page.locator("ul.rules li").all_inner_texts()
    assert rules[0].startswith("A restricted contact (or probably one")

    marks = page.locator("article.part mark")
    assert SAFE_ADDRESS in marks.all_inner_texts()
    body = page.locator("article.part", has_text="She now lives at").locator("mark")
    assert [SAFE_ADDRESS] == body.all_inner_texts()
    title = body.first.get_attribute("title")
    assert f"The body contains the protected address of case {CASE}." == title

    # Content first, the decision beside it on a wide screen...
    content = page.locator("section.parts").bounding_box()
    actions = page.locator("section.actions").bounding_box()
    assert content is not None
    assert actions is not None
    assert actions["x"] >= content["x"] + content["width"]
    page.screenshot(path=screenshots() / "message-view-critical.png", full_page=True)
    # ... and below it on a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    content = page.locator("div.message-main").bounding_box()
    actions = page.locator("section.actions").bounding_box()
    assert content is not None
    assert actions is not None
    assert actions["y"] >= content["y"] + content["height"]
    # Nothing on the message itself is wider than the phone (the top bar is not ours).
    wide = (
        "[...document.querySelectorAll('main *')]"
        ".filter(e => e.getBoundingClientRect().right > 390).length"
    )
    assert 0 == page.evaluate(wide)


def test_the_approver_does_not_see_release(g: ConsoleGateway, log_in: LogIn) -> None:
    """After approving a critical hold, the reviewer sees no Release form and no release
    choice on the false positive form, only that a second, senior reviewer is awaited;
    a senior reviewer still sees Release."""
    message_id = g.hold(leak())
    url = f"{g.url}/messages/{message_id}"
    rita = log_in(g, "rita")
    rita.goto(url)
    assert "Approve release" == rita.locator("form.release h3").inner_text()
    release(rita, "Checked with the case officer")
    assert notice(rita).startswith("Approved.")

    assert 0 == rita.locator("form.release").count()
    waiting = "You approved this; waiting for a second, senior reviewer."
    assert waiting == rita.locator("section.actions p.waiting").inner_text()
    assert 0 == rita.locator("form.fp input[value=release]").count()
    assert 1 == rita.locator("form.reject").count()

    sue = log_in(g, "sue")
    sue.goto(url)
    assert 1 == sue.locator("form.release").count()
    assert "Approved by: rita" == sue.locator("p.approvals").inner_text()


def test_a_false_positive_can_release_the_message(g: ConsoleGateway, log_in: LogIn) -> None:
    """A false positive with "release" records the mistake and releases the message
    after the password again; one kept held says so and stays held."""
    kept = g.hold(high_hold("Kept"))
    page = log_in(g, "rita")
    page.goto(f"{g.url}/messages/{kept}")
    form = page.locator("form.fp")
    form.locator("textarea[name=reason]").fill("A namesake, not the protected person")
    assert form.get_by_label("Keep it held").is_checked()
    form.get_by_role("button", name="Record false positive").click()
    page.wait_for_load_state()
    assert "The message is still held" in notice(page)
    assert "kept it held" in page.locator("section.actions").inner_text()
    assert kept in listed(g, "held")

    freed = g.hold(high_hold("Freed"))
    page.goto(f"{g.url}/messages/{freed}")
    form = page.locator("form.fp")
    form.locator("textarea[name=reason]").fill("The landlord is the tenant's own; allowed")
    form.get_by_label("Release it").check()
    form.locator("input[name=password]").fill("wrong")
    form.get_by_role("button", name="Record false positive").click()
    page.wait_for_load_state()
    assert "Wrong password or code" in error(page)
    assert "allowed" in form.locator("textarea[name=reason]").input_value()
    assert form.get_by_label("Release it").is_checked()
    assert freed in listed(g, "held")

    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Record false positive").click()
    page.wait_for_load_state()
    assert notice(page).startswith("Recorded as a false positive")
    assert "Released: the upstream accepted the message." in notice(page)
    assert 1 == len(delivered(g, freed))
    assert freed in listed(g, "released")
    assert "marked false positive" in page.locator("p.meta").inner_text()


def test_a_reject_error_keeps_what_was_typed(g: ConsoleGateway, log_in: LogIn) -> None:
    """A reject refused (a blank reason) shows the page again with the error by the
    Reject form and the note and choice kept; one decided meanwhile by someone else
    says so at the top of the page."""
    message_id = g.hold(high_hold())
    page = log_in(g, "rita")
    page.goto(f"{g.url}/messages/{message_id}")
    form = page.locator("form.reject")
    form.locator("textarea[name=reason]").fill("   ")
    form.get_by_label("Tell the sender").check()
    form.locator("textarea[name=sender_note]").fill("Please send it by post")
    form.get_by_role("button", name="Reject").click()
    page.wait_for_load_state()
    assert "Give a reason." == form.locator("p.error[role=alert]").inner_text()
    assert "Please send it by post" == form.locator("textarea[name=sender_note]").input_value()
    assert form.get_by_label("Tell the sender").is_checked()

    rejected = g.cli(
        "quarantine",
        "reject",
        message_id,
        "--reason",
        "first",
        "--user",
        "rob",
        stdin=PASSWORD + "\n",
    )
    assert 0 == rejected.returncode, rejected.stderr
    form.locator("textarea[name=reason]").fill("Not for the landlord")
    form.get_by_role("button", name="Reject").click()
    page.wait_for_load_state()
    assert "is rejected, not held" in error(page)
    assert 0 == page.locator("form.reject").count()
