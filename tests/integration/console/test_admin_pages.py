"""The console's register and policies pages, for the register and policy admins."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    csrf_token,
    high_hold,
    http_login,
)
from tests.integration.support import REGISTER, SAFE_ADDRESS


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    with console_gateway(tmp_path_factory.mktemp("admin")) as g:
        for name, roles in (("reggie", "register-admin"), ("polly", "policy-admin")):
            added = g.cli(
                "user",
                "add",
                name,
                "--email",
                f"{name}@council.example.gov.uk",
                "--role",
                roles,
                stdin=PASSWORD + "\n",
            )
            assert 0 == added.returncode, added.stderr
        yield g


Login = Callable[[str], tuple[httpx.Client, str]]


@pytest.fixture
def login(running: ConsoleGateway) -> Iterator[Login]:
    """Log in as a user: a client and its CSRF token; the clients are closed after."""
    clients: list[httpx.Client] = []

    def log_in(name: str) -> tuple[httpx.Client, str]:
        client = httpx.Client(base_url=running.url, timeout=30)
        clients.append(client)
        return _login(client, name)

    yield log_in
    for client in clients:
        client.close()


def _login(client: httpx.Client, name: str) -> tuple[httpx.Client, str]:
    """Log ``client`` in; the client and its CSRF token."""
    assert 303 == http_login(client, name).status_code
    return client, csrf_token(client, client.get("/").headers["location"])


def test_a_register_admin_imports_a_new_version(running: ConsoleGateway, login: Login) -> None:
    """The upload shows what it changes, becomes the next version once confirmed, is
    audited, and no protected value is shown."""
    client, csrf = login("reggie")
    before = client.get("/register")
    assert "DA-2025-0142" in before.text
    assert SAFE_ADDRESS not in before.text
    changed = REGISTER.read_bytes().replace(
        b"emails: [mark.whitmore@example.com",
        b"emails: [lettings@landlord.example, mark.whitmore@example.com",
    )
    assert changed != REGISTER.read_bytes()
    shown = client.post(
        "/register",
        data={"csrf": csrf},
        files={"file": ("new.yaml", changed, "application/yaml")},
    )
    assert (200, True) == (shown.status_code, "restricted[0].emails" in shown.text)
    assert SAFE_ADDRESS not in shown.text
    token = re.search(r'name="token" value="([^"]+)"', shown.text)
    assert token is not None
    sent = client.post("/register/confirm", data={"csrf": csrf, "token": token[1]})
    assert (303, "/register?notice=register-imported") == (
        sent.status_code,
        sent.headers["location"],
    )
    assert "new.yaml" in client.get("/register").text
    trail = running.cli("audit", "list").stdout
    assert re.search(r"user:reggie\s+register-import\s+register:2\s+new.yaml", trail)


def test_a_bad_register_upload_names_the_line(login: Login) -> None:
    """A broken file is refused with file:line, and nothing is stored."""
    client, csrf = login("reggie")
    bad = b"version: 1\ncases:\n  - id: X\n    protected: [{name: }]\n"
    sent = client.post(
        "/register", data={"csrf": csrf}, files={"file": ("broken.yaml", bad, "application/yaml")}
    )
    assert 400 == sent.status_code
    assert "broken.yaml:" in sent.text
    assert "broken.yaml" not in client.get("/register").text.split("<h2>Versions")[1]


def test_only_register_admins_import_and_reviewers_see_neither_page(login: Login) -> None:
    """A policy admin reads policies but cannot import; a reviewer opens neither page."""
    polly, csrf = login("polly")
    page = polly.get("/policies")
    assert (200, True) == (page.status_code, "restricted-recipient-protected-data" in page.text)
    refused = polly.post(
        "/register",
        data={"csrf": csrf},
        files={"file": ("x.yaml", REGISTER.read_bytes(), "application/yaml")},
    )
    assert 403 == refused.status_code
    rita, _ = login("rita")
    assert [403, 403] == [rita.get(path).status_code for path in ("/register", "/policies")]


def test_the_policies_page_counts_holds_and_false_positives_per_rule(
    running: ConsoleGateway, login: Login
) -> None:
    """A hold counts for its rule; a false-positive mark counts in the next column."""
    message_id = running.hold(high_hold("Counted"))
    rita, csrf = login("rita")
    marked = rita.post(
        f"/messages/{message_id}/false-positive",
        data={"csrf": csrf, "reason": "same street, another town"},
    )
    assert 303 == marked.status_code
    polly, _ = login("polly")
    page = polly.get("/policies").text
    row = page.split("<strong>external-recipient-protected-address</strong>")[1].split("</tr>")[0]
    held, false_positive = re.findall(r"<td>(\d+)</td>", row)[-2:]
    assert int(held) >= 1
    assert 1 == int(false_positive)


def test_a_register_upload_needs_the_csrf_token(running: ConsoleGateway, login: Login) -> None:
    """Without the form's token nothing is imported."""
    client, _ = login("reggie")
    versions = client.get("/register").text.count("<tr><td>")
    upload = {"file": ("sneaky.yaml", REGISTER.read_bytes(), "application/yaml")}
    for data in ({}, {"csrf": "forged"}):
        assert 403 == client.post("/register", data=data, files=upload).status_code
    assert versions == client.get("/register").text.count("<tr><td>")
    assert "sneaky.yaml" not in client.get("/register").text
