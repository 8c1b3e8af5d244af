"""The console's register page in front of a running ``gateway serve``: an upload shows
what it changes and is stored only when confirmed; the shrink guard; rollback; who may
do what; the audit trail; and the same in a real browser (Playwright, Chromium)."""

from __future__ import annotations

import asyncio
import copy
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page

from gateway.crypto import KeyRing
from gateway.store import Store
from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    csrf_token,
    http_login,
)
from tests.integration.smtp_support import REPO
from tests.integration.support import REGISTER, SAFE_ADDRESS

EXAMPLE: dict[str, Any] = yaml.safe_load(REGISTER.read_text(encoding="utf-8"))
LANDLORD = "lettings@landlord.example"
ADMINS = ("reggie", "rhona")  # two register admins
Login = Callable[[str], tuple[httpx.Client, str]]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    """One gateway with its console for the module, with two register admins."""
    with console_gateway(tmp_path_factory.mktemp("register")) as g:
        for name in ADMINS:
            added = g.cli(
                "user",
                "add",
                name,
                "--email",
                f"{name}@council.example.gov.uk",
                "--role",
                "register-admin",
                stdin=PASSWORD + "\n",
            )
            assert 0 == added.returncode, added.stderr
        yield g


@pytest.fixture
def g(running: ConsoleGateway) -> ConsoleGateway:
    """The running gateway with the example register current again (each test starts
    from it; a version with the same cases stores nothing)."""
    reset = running.cli("register", "import", "--yes", "--allow-shrink", str(REGISTER))
    assert 0 == reset.returncode, reset.stderr
    return running


@pytest.fixture
def login(running: ConsoleGateway) -> Iterator[Login]:
    """Log in as a user: a client and its CSRF token; the clients are closed after."""
    clients: list[httpx.Client] = []

    def log_in(name: str) -> tuple[httpx.Client, str]:
        client = httpx.Client(base_url=running.url, timeout=60)
        clients.append(client)
        assert 303 == http_login(client, name).status_code
        return client, csrf_token(client, "/account")

    yield log_in
    for client in clients:
        client.close()


def _variant(*, landlord: bool = False, only: int | None = None) -> bytes:
    data = copy.deepcopy(EXAMPLE)
    if landlord:
        data["cases"][0]["restricted"][0]["emails"].append(LANDLORD)
    if only is not None:
        data["cases"] = data["cases"][:only]
    return yaml.safe_dump(data, sort_keys=False).encode()


def _upload(client: httpx.Client, csrf: str, name: str, body: bytes) -> httpx.Response:
    return client.post(
        "/register", data={"csrf": csrf}, files={"file": (name, body, "application/yaml")}
    )


def _token(page: httpx.Response) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page.text)
    assert found is not None, page.text[-2000:]
    return found[1]


def _version(g: ConsoleGateway) -> int:
    listed = g.cli("register", "list")
    assert 0 == listed.returncode, listed.stderr
    found = re.match(r"register version (\d+):", listed.stdout)
    assert found is not None
    return int(found[1])


def _text(g: ConsoleGateway, version: int) -> str:
    """A version's text, unsealed."""

    async def read() -> str:
        store = await Store.open(
            g.data_dir / "gateway.sqlite3", KeyRing.load(g.data_dir / "master.key")
        )
        try:
            source = await store.register_source(version)
            assert source is not None
            return source.text
        finally:
            await store.close()

    return asyncio.run(read())


def test_an_upload_is_shown_and_stored_only_when_confirmed(g: ConsoleGateway, login: Login) -> None:
    """The page lists the changed case and its field, stores nothing yet; the confirm
    makes the next version, audited with the counts; no protected value is shown."""
    before = _version(g)
    client, csrf = login("reggie")
    shown = _upload(client, csrf, "landlord.yaml", _variant(landlord=True))
    assert 200 == shown.status_code
    assert re.search(
        r"case changed</td><td>DA-2025-0142</td><td>restricted\[0\].emails", shown.text
    )
    assert "Cases: 0 added, 0 removed, 1 changed, 1 unchanged (2 -&gt; 2)" in shown.text
    assert (SAFE_ADDRESS not in shown.text, LANDLORD not in shown.text) == (True, True)
    assert before == _version(g)
    done = client.post("/register/confirm", data={"csrf": csrf, "token": _token(shown)})
    assert (303, "/register?notice=register-imported") == (
        done.status_code,
        done.headers["location"],
    )
    assert before + 1 == _version(g)
    trail = g.cli("audit", "list").stdout
    expected = (
        rf"user:reggie\s+register-import\s+register:{before + 1}\s+"
        r"landlord.yaml: 0 added, 0 removed, 1 changed"
    )
    assert re.search(expected, trail)
    again = client.post("/register/confirm", data={"csrf": csrf, "token": _token(shown)})
    assert (400, before + 1) == (again.status_code, _version(g))


def test_an_upload_that_drops_most_cases_needs_the_tick(g: ConsoleGateway, login: Login) -> None:
    """Past register_max_shrink the page warns with the counts; the confirm without the
    tick is refused and stores nothing, with the tick it goes through."""
    before = _version(g)
    client, csrf = login("reggie")
    shown = _upload(client, csrf, "one-case.yaml", _variant(only=1))
    assert "it would remove 1 of 2 cases (50%)" in shown.text
    token = _token(shown)
    refused = client.post("/register/confirm", data={"csrf": csrf, "token": token})
    assert (400, True) == (refused.status_code, "Tick the box" in refused.text)
    assert before == _version(g)
    done = client.post(
        "/register/confirm", data={"csrf": csrf, "token": token, "allow_shrink": "on"}
    )
    assert (303, before + 1) == (done.status_code, _version(g))


def test_the_same_register_again_stores_nothing(g: ConsoleGateway, login: Login) -> None:
    """An upload with the current cases is said to be the same; no version is made."""
    before = _version(g)
    client, csrf = login("reggie")
    sent = _upload(client, csrf, "same.yaml", REGISTER.read_bytes())
    assert (303, "/register?notice=register-same") == (sent.status_code, sent.headers["location"])
    assert before == _version(g)


def test_a_rollback_is_shown_confirmed_and_restores_the_exact_text(
    g: ConsoleGateway, login: Login
) -> None:
    """Roll back to an old version: its changes are shown, and once confirmed the new
    version's text is the old one's, byte for byte; audited as a rollback."""
    old = _version(g)
    client, csrf = login("reggie")
    shown = _upload(client, csrf, "landlord.yaml", _variant(landlord=True))
    client.post("/register/confirm", data={"csrf": csrf, "token": _token(shown)})
    assert old + 1 == _version(g)
    page = client.get("/register").text
    assert page.count("Roll back to this") >= 1
    preview = client.post("/register/rollback", data={"csrf": csrf, "version": str(old)})
    assert f"Roll back to version {old}" in preview.text
    assert "restricted[0].emails" in preview.text
    done = client.post("/register/confirm", data={"csrf": csrf, "token": _token(preview)})
    assert (303, "/register?notice=register-rolled-back") == (
        done.status_code,
        done.headers["location"],
    )
    assert _text(g, old) == _text(g, old + 2)
    trail = g.cli("audit", "list").stdout
    assert re.search(
        rf"user:reggie\s+register-rollback\s+register:{old + 2}\s+version {old}", trail
    )
    missing = client.post("/register/rollback", data={"csrf": csrf, "version": "999"})
    assert 404 == missing.status_code


def test_a_waiting_change_is_its_admin_s_and_lapses_when_the_register_moves(
    g: ConsoleGateway, login: Login
) -> None:
    """Another admin cannot confirm it; an auditor may not post at all; after another
    import meanwhile the confirm is refused (409) and nothing is stored."""
    client, csrf = login("reggie")
    shown = _upload(client, csrf, "landlord.yaml", _variant(landlord=True))
    token = _token(shown)
    other, other_csrf = login("rhona")
    assert (
        400
        == other.post("/register/confirm", data={"csrf": other_csrf, "token": token}).status_code
    )
    auditor, auditor_csrf = login("aud")
    page = auditor.get("/register")
    assert (200, False, False) == (
        page.status_code,
        "Roll back to this" in page.text,
        'name="file"' in page.text,
    )
    refused = auditor.post("/register/confirm", data={"csrf": auditor_csrf, "token": token})
    assert 403 == refused.status_code
    meanwhile = _variant(landlord=True).replace(LANDLORD.encode(), b"agent@landlord.example")
    path = g.data_dir.parent / "meanwhile.yaml"
    path.write_bytes(meanwhile)
    assert 0 == g.cli("register", "import", "--yes", str(path)).returncode
    moved = _version(g)
    late = client.post("/register/confirm", data={"csrf": csrf, "token": token})
    assert (409, True) == (late.status_code, "changed meanwhile" in late.text)
    assert moved == _version(g)


def _screenshot(page: Page, name: str) -> None:
    folder = Path(os.environ.get("GATEWAY_SCREENSHOTS") or REPO / "test-artifacts/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / name, full_page=True)


def test_in_a_browser_an_upload_shows_the_diff_and_confirm_imports_it(
    g: ConsoleGateway, browser: Browser, tmp_path: Path
) -> None:
    """A register admin chooses a file, sees the changed case and field, confirms, and
    the new version is listed as current; the page never shows a protected value."""
    before = _version(g)
    upload = tmp_path / "landlord.yaml"
    upload.write_bytes(_variant(landlord=True))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{g.url}/login")
        page.locator("input[name=name]").fill("reggie")
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{g.url}/register")
        page.locator("input[name=file]").set_input_files(str(upload))
        page.get_by_role("button", name="Show the changes").click()
        page.wait_for_load_state()
        diff = page.locator("table.register-diff")
        assert "DA-2025-0142" in diff.inner_text()
        assert "restricted[0].emails" in diff.inner_text()
        _screenshot(page, "register-diff.png")
        assert before == _version(g)
        page.get_by_role("button", name=f"Confirm: make this version {before + 1}").click()
        page.wait_for_url(f"{g.url}/register?notice=register-imported")
        assert "Register imported" in page.locator("p.notice").inner_text()
        first_row = page.locator("table.register-versions tbody tr").first.inner_text()
        assert (True, True) == (first_row.startswith(str(before + 1)), "current" in first_row)
        _screenshot(page, "register-versions.png")
        content = page.content()
        for value in (SAFE_ADDRESS, LANDLORD, "Sarah Jane Whitmore"):
            assert value not in content
    finally:
        context.close()
    assert before + 1 == _version(g)
