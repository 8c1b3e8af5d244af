"""The message page of a running console says when a redaction hid nothing."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import asyncio
import datetime as dt
import html
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from playwright.sync_api import sync_playwright

from gateway.crypto import KeyRing
from gateway.store import HeldMessage, Store, new_message_id
from tests import pdfgen
from tests.integration.console.test_browser import CHROMIUM, VIEWPORT
from tests.integration.console_support import (
    PASSWORD,
    SENDER,
    ConsoleGateway,
    console_gateway,
    http_login,
)
from tests.integration.support import LANDLORD, SAFE_ADDRESS

PDF = "attachment:report.pdf"
CASE = "DA-2025-0142"


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    with console_gateway(tmp_path_factory.mktemp("redaction")) as running:
        yield running


def _finding(kind: str, hidden: bool) -> dict[str, object]:
    out: dict[str, object] = {
        "kind": kind,
        "case": CASE,
        "location": PDF,
        "confidence": "high",
        "score": 100,
    }
    return out | ({"hidden": "redaction"} if hidden else {})


def _hold(g: ConsoleGateway) -> str:
    """A held message as the SMTP side stores one whose PDF had the address under a
    black box (the findings as the matcher gives them), put straight into the store."""
    message = HeldMessage(
        id=new_message_id(),
        received_at=dt.datetime.now(dt.UTC),
        mail_from=SENDER,
        rcpt_tos=("lettings@landlord.example",),
        raw=b"To: lettings@landlord.example\r\nSubject: Report\r\n\r\nReport attached.\r\n",
        action="quarantine",
        severity="high",
        rules=("external-recipient-protected-address", "failed-redaction-external"),
        findings=[
            _finding("address", hidden=True),
            _finding("postcode", hidden=False),
            _finding("failed_redaction", hidden=True),
        ],
    )

    async def hold() -> None:
        keys = KeyRing.load(g.data_dir / "master.key")
        async with await Store.open(g.data_dir / "gateway.sqlite3", keys) as store:
            await store.hold(message)

    asyncio.run(hold())
    return message.id


@pytest.mark.slow
def test_the_page_says_the_redaction_hid_nothing_and_marks_the_hidden_detail(
    g: ConsoleGateway,
) -> None:
    """The reviewer reads, in words, that the text was meant to be redacted, which kind
    of detail it carries, and which finding lay under the box."""
    message_id = _hold(g)
    with httpx.Client(base_url=g.url, timeout=30) as client:
        assert 303 == http_login(client, "rita").status_code
        page = client.get(f"/messages/{message_id}")
    assert 200 == page.status_code
    text = html.unescape(page.text)
    assert "This was meant to be redacted and is not" in text
    assert f"It carries an address of case {CASE}." in text
    items = [item.split("</li>")[0] for item in text.split('<li id="finding-')[1:]]
    marked = ["in text a redaction meant to hide" in item for item in items if CASE in item]
    # address (hidden), postcode (on the surface), failed_redaction (the note says it)
    assert [True, False, False] == marked
    assert "has a redaction that hides nothing" in items[2]


@pytest.mark.slow
def test_a_report_held_for_its_black_box_shows_the_hidden_text_marked(g: ConsoleGateway) -> None:
    """Sent through SMTP, a PDF with the address under a black box is held, and its page
    marks the text read from under the box as meant to be redacted."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, LANDLORD, "Report"
    message.set_content("Report attached.")
    lines = ["Assessment report", "Current address:", SAFE_ADDRESS, "Next review in May."]
    pdf = pdfgen.report(lines, pdfgen.Hide(line=2, how="box"))
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="report.pdf")
    message_id = g.hold(message)
    with httpx.Client(base_url=g.url, timeout=30) as client:
        assert 303 == http_login(client, "rita").status_code
        text = html.unescape(client.get(f"/messages/{message_id}").text)
    assert f"It carries an address of case {CASE}." in text
    headings = [h.split("</h3>")[0] for h in text.split("<h3>")[1:]]
    report = [h for h in headings if "attachment:report.pdf" in h]
    assert any("meant to be redacted: hidden on the page" in h for h in report)


@pytest.mark.slow
def test_in_a_browser_the_note_and_the_mark_are_shown(g: ConsoleGateway) -> None:
    """In Chromium, the note stands under the failed redaction's sentence and the
    address's sentence carries its "under a redaction" tag, both visible."""
    message_id = _hold(g)
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium package"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.goto(f"{g.url}/login")
            page.locator("input[name=name]").fill("rita")
            page.locator("input[name=password]").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{g.url}/messages")
            page.goto(f"{g.url}/messages/{message_id}")
            note = page.locator("section.findings li p.warning")
            assert note.is_visible()
            assert note.inner_text().startswith("This was meant to be redacted and is not")
            tag = page.locator("section.findings li.redaction span.tag.redaction")
            assert ["under a redaction"] == tag.all_inner_texts()
            assert tag.first.is_visible()
        finally:
            browser.close()
