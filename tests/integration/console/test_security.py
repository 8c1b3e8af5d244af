"""The review console's defences, tried with a real HTTP client against a running
``gateway serve``: CSRF, sessions, escaping, headers, cookies, password hashes, racing
releases, server-side role checks, login lockout, and the tamper-evident audit chain."""

from __future__ import annotations

import re
import secrets
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    high_hold,
    leak,
)
from tests.integration.smtp_support import GATEWAY
from tests.integration.support import SAFE_ADDRESS

LOGIN_COOKIE, SESSION_COOKIE = "__Host-login", "__Host-session"
DB = "gateway.sqlite3"
SCRIPT, IMG = "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'
PAYLOAD = SCRIPT + IMG
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;")
BAD_CSRF = {"missing": None, "wrong": secrets.token_urlsafe(32)}
MESSAGE_ACTIONS = ("release", "reject", "false-positive")
REASON = "checked with the caseworker"
MALLORY = {"name": "mallory", "email": "m@x.example", "password": PASSWORD, "roles": "admin"}
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    """A logged-in console client: its own session cookie and that session's CSRF token."""

    client: httpx.Client
    csrf: str

    def post(self, path: str, csrf: str | None, **fields: str) -> httpx.Response:
        return self.client.post(path, data=fields if csrf is None else {**fields, "csrf": csrf})


Login = Callable[[str], Browser]


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    """One gateway for the module; each test holds the messages it acts on."""
    with console_gateway(tmp_path_factory.mktemp("console")) as running:
        yield running


def browser(g: ConsoleGateway, name: str) -> Browser:
    """A client logged in as ``name``; the caller closes it."""
    response = login_response(g, name)
    assert 303 == response.status_code, response.text
    token = cookie_value(set_cookies(response)[SESSION_COOKIE])
    # httpx sends no Secure cookie over http://, and drops a Cookie header on redirects.
    client = httpx.Client(base_url=g.url, headers={"cookie": f"{SESSION_COOKIE}={token}"})
    match = _CSRF_FIELD.search(client.get(client.get("/").headers["location"]).text)
    assert match is not None
    return Browser(client, match.group(1))


@pytest.fixture
def login(g: ConsoleGateway) -> Iterator[Login]:
    """Log in as a named account; every client is closed after the test."""
    browsers: list[Browser] = []

    def log_in(name: str) -> Browser:
        browsers.append(browser(g, name))
        return browsers[-1]

    yield log_in
    for each in browsers:
        each.client.close()


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Cookie name -> the whole Set-Cookie header that sets it."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def login_response(
    g: ConsoleGateway, name: str, password: str = PASSWORD, csrf: str | None = "", cookie: str = ""
) -> httpx.Response:
    """POST /login as a browser would (csrf "" = the right token); the raw response."""
    with httpx.Client(base_url=g.url) as client:
        token = cookie_value(set_cookies(client.get("/login"))[LOGIN_COOKIE])
        form = {"name": name, "password": password, "code": ""}
        if csrf is not None:
            form["csrf"] = csrf or token
        return client.post(
            "/login", data=form, headers={"cookie": f"{LOGIN_COOKIE}={token}{cookie}"}
        )


def summary(g: ConsoleGateway, message_id: str) -> str:
    """The ``quarantine list`` line of one message."""
    listed = g.cli("quarantine", "list", "--limit", "1000").stdout.splitlines()
    return next(line for line in listed if line.startswith(message_id))


def status(g: ConsoleGateway, message_id: str) -> str:
    return summary(g, message_id).split()[3]


def delivered(g: ConsoleGateway, message_id: str) -> int:
    """How many released copies of the message the upstream sink received."""
    stamp = f"X-Safe-Address-Released: {message_id};".encode()
    return sum(stamp in received.content for received in g.upstream.messages)


def user_line(g: ConsoleGateway, name: str) -> str | None:
    lines = g.cli("user", "list").stdout.splitlines()
    return next((line for line in lines if line.split()[0] == name), None)


# -- 1. CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_CSRF)
def test_login_without_a_valid_csrf_token_is_refused(g: ConsoleGateway, bad: str) -> None:
    """A login form without its double-submit token is refused and starts no session."""
    response = login_response(g, "rita", csrf=BAD_CSRF[bad])
    assert 403 == response.status_code
    assert SESSION_COOKIE not in set_cookies(response)


@pytest.mark.parametrize("bad", BAD_CSRF)
def test_logout_without_a_valid_csrf_token_is_refused(login: Login, bad: str) -> None:
    """A logout without the session's token is refused and the session goes on."""
    rita = login("rita")
    response = rita.post("/logout", BAD_CSRF[bad])
    assert 403 == response.status_code
    assert "out of date" in response.text
    assert 200 == rita.client.get("/messages").status_code


@pytest.mark.parametrize("bad", BAD_CSRF)
@pytest.mark.parametrize("action", MESSAGE_ACTIONS)
def test_message_action_without_a_valid_csrf_token_changes_nothing(
    g: ConsoleGateway, login: Login, action: str, bad: str
) -> None:
    """A release, reject or false-positive without the session's token is refused."""
    message_id = g.hold(high_hold())
    rita = login("rita")
    response = rita.post(
        f"/messages/{message_id}/{action}", BAD_CSRF[bad], reason=REASON, password=PASSWORD
    )
    assert 403 == response.status_code
    assert "out of date" in response.text
    assert "held" == status(g, message_id)
    assert not summary(g, message_id).endswith("false-positive")
    assert 0 == delivered(g, message_id)


@pytest.mark.parametrize("bad", BAD_CSRF)
@pytest.mark.parametrize("change", ["add", "disable", "reset-password"])
def test_user_change_without_a_valid_csrf_token_changes_nothing(
    g: ConsoleGateway, login: Login, change: str, bad: str
) -> None:
    """Adding, disabling or resetting a user without the session's token is refused."""
    ada = login("ada")
    name = "mallory" if change == "add" else "rob"
    response = ada.post("/users", BAD_CSRF[bad], **{**MALLORY, "change": change, "name": name})
    assert 403 == response.status_code
    assert "out of date" in response.text
    assert user_line(g, "mallory") is None
    assert "rob  rob@council.example.gov.uk  reviewer" == user_line(g, "rob")
    assert 303 == login_response(g, "rob").status_code  # the old password still works


# -- 2. sessions --------------------------------------------------------------------------

PAGES = ["/", "/messages", "/messages/{id}", "/messages/{id}/export", "/audit", "/users"]
ACTIONS = ["/logout", "/users", *(f"/messages/{{id}}/{a}" for a in MESSAGE_ACTIONS)]


@pytest.mark.parametrize("cookie", ["none", "forged"])
def test_every_page_without_a_session_redirects_to_login(g: ConsoleGateway, cookie: str) -> None:
    """Without a session (or with a made-up one) every page and action sends to /login."""
    message_id = g.hold(high_hold())
    forged = {"cookie": f"{SESSION_COOKIE}={secrets.token_urlsafe(32)}"}
    headers = forged if cookie == "forged" else {}
    form = {**MALLORY, "csrf": secrets.token_urlsafe(32), "reason": REASON, "change": "add"}
    with httpx.Client(base_url=g.url, headers=headers) as client:
        got = [client.get(path.format(id=message_id)) for path in PAGES]
        got += [client.post(path.format(id=message_id), data=form) for path in ACTIONS]
    assert [(303, "/login")] * len(got) == [(r.status_code, r.headers.get("location")) for r in got]
    assert "held" == status(g, message_id)
    assert user_line(g, "mallory") is None


# -- 3. escaping --------------------------------------------------------------------------


def test_markup_in_mail_and_reasons_is_escaped(g: ConsoleGateway, login: Login) -> None:
    """Markup in subject, body, attachment name, From name and a reason never reaches the page."""
    message = leak(subject=PAYLOAD, body=f"{PAYLOAD}\n{SAFE_ADDRESS}\n", sender_name=PAYLOAD)
    message.add_attachment(
        f"{PAYLOAD} {SAFE_ADDRESS}".encode(), maintype="text", subtype="plain", filename=PAYLOAD
    )
    message_id = g.hold(message)
    rita = login("rita")
    marked = rita.post(f"/messages/{message_id}/false-positive", rita.csrf, reason=PAYLOAD)
    assert 303 == marked.status_code, marked.text
    pages = {
        "list": rita.client.get("/messages").text,
        "message": rita.client.get(f"/messages/{message_id}").text,
        "audit": login("aud").client.get("/audit").text,
    }
    for name, html in pages.items():
        for raw in (SCRIPT, IMG, "<script", "<img", "onerror=alert(1)>"):
            assert (name, False) == (name, raw in html.lower())
    for name in ("message", "audit"):
        for escaped in ESCAPED:
            assert (name, True) == (name, escaped in pages[name])
    assert 4 <= pages["message"].count(ESCAPED[0])  # subject twice, body, attachment, reason


# -- 4. headers and cookies ---------------------------------------------------------------


def test_mail_pages_forbid_scripts_caching_and_sniffing(g: ConsoleGateway, login: Login) -> None:
    """The list, message and export responses carry a strict CSP, no-store and nosniff."""
    message_id = g.hold()
    rita = login("rita")
    for path in ("/messages", f"/messages/{message_id}", f"/messages/{message_id}/export"):
        response = rita.client.get(path)
        assert 200 == response.status_code
        policy = [d.strip() for d in response.headers["content-security-policy"].split(";")]
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        assert "no-store" == response.headers["cache-control"]
        assert "nosniff" == response.headers["x-content-type-options"]
    export = rita.client.get(f"/messages/{message_id}/export")
    assert "application/octet-stream" == export.headers["content-type"]
    assert export.headers["content-disposition"].startswith("attachment;")


def test_session_cookie_is_strict_and_new_at_each_login(g: ConsoleGateway) -> None:
    """The session cookie is Secure, HttpOnly, SameSite=Strict, host-only, and never reused."""
    planted = secrets.token_urlsafe(32)
    first = set_cookies(login_response(g, "rita"))[SESSION_COOKIE]
    second = set_cookies(login_response(g, "rita", cookie=f"; {SESSION_COOKIE}={planted}"))
    _, *attributes = (part.strip() for part in first.split(";"))
    flags = {k.lower(): v for k, _, v in (a.partition("=") for a in attributes)}
    assert {"secure", "httponly", "samesite", "path"} <= flags.keys()
    assert ("strict", "/") == (flags["samesite"].lower(), flags["path"])
    assert "domain" not in flags
    tokens = {cookie_value(first), cookie_value(second[SESSION_COOKIE]), planted}
    assert 3 == len(tokens)
    with httpx.Client(base_url=g.url, headers={"cookie": f"{SESSION_COOKIE}={planted}"}) as c:
        assert 303 == c.get("/messages").status_code


# -- 5. password hashes -------------------------------------------------------------------


def test_stored_password_hashes_are_argon2id(g: ConsoleGateway) -> None:
    """Every account's password is stored as an argon2id hash."""
    with closing(sqlite3.connect(f"file:{g.data_dir / DB}?mode=ro", uri=True)) as db:
        hashes = [row[0] for row in db.execute("SELECT password_hash FROM users")]
    assert 6 <= len(hashes)
    assert [] == [h for h in hashes if not h.startswith("$argon2id$")]


# -- 6. racing releases -------------------------------------------------------------------


def test_two_simultaneous_releases_deliver_once(g: ConsoleGateway, login: Login) -> None:
    """Two reviewers releasing the same message at once: one wins, the other gets 409."""
    message_id = g.hold(high_hold())
    reviewers = [login("rita"), login("rob")]
    start = threading.Barrier(2)

    def release(reviewer: Browser) -> httpx.Response:
        start.wait()
        path = f"/messages/{message_id}/release"
        return reviewer.post(path, reviewer.csrf, reason=REASON, password=PASSWORD)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(release, reviewers))
    assert [303, 409] == sorted(r.status_code for r in responses)
    (winner,) = (b for b, r in zip(reviewers, responses, strict=True) if r.status_code == 303)
    page = winner.client.get(f"/messages/{message_id}?notice=released")
    assert "Released: the upstream accepted the message." in page.text
    # The loser sees the message page again, the conflict next to the form.
    assert 'class="error" role="alert"' in next(r.text for r in responses if r.status_code == 409)
    deadline = time.monotonic() + 10
    while not delivered(g, message_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # room for a second, wrong delivery to arrive
    assert 1 == delivered(g, message_id)
    released = g.cli("quarantine", "list", "--status", "released", "--limit", "1000").stdout
    assert 1 == released.count(message_id)


# -- 7. roles -----------------------------------------------------------------------------


def test_auditor_cannot_release_or_reject(g: ConsoleGateway, login: Login) -> None:
    """An auditor's release or reject is refused on the server, token or not."""
    message_id = g.hold(high_hold())
    aud = login("aud")
    for action in ("release", "reject"):
        path = f"/messages/{message_id}/{action}"
        response = aud.post(path, aud.csrf, reason=REASON, password=PASSWORD)
        assert (action, 403) == (action, response.status_code)
    assert "held" == status(g, message_id)
    assert 0 == delivered(g, message_id)


def test_reviewer_cannot_manage_users(g: ConsoleGateway, login: Login) -> None:
    """A reviewer's POST to /users is refused and adds or disables no one."""
    rita = login("rita")
    added = rita.post("/users", rita.csrf, change="add", **MALLORY)
    disabled = rita.post("/users", rita.csrf, change="disable", name="rob")
    assert (403, 403) == (added.status_code, disabled.status_code)
    assert user_line(g, "mallory") is None
    assert "rob  rob@council.example.gov.uk  reviewer" == user_line(g, "rob")


def test_sender_cannot_release_their_own_message(g: ConsoleGateway, login: Login) -> None:
    """The officer who sent a held message cannot release it, even as a senior reviewer."""
    message_id = g.hold(high_hold())
    officer = login("officer")
    response = officer.post(
        f"/messages/{message_id}/release", officer.csrf, reason=REASON, password=PASSWORD
    )
    assert 403 == response.status_code
    assert "sender" in response.text
    assert "held" == status(g, message_id)
    assert 0 == delivered(g, message_id)


# -- 8. lockout ---------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account(tmp_path: Path) -> None:
    """After five wrong passwords the right one is refused too, and each failure is audited."""
    with console_gateway(tmp_path) as fresh:
        wrong = [login_response(fresh, "rita", "not the password").status_code for _ in range(5)]
        locked = login_response(fresh, "rita")
        audit = fresh.cli("audit", "list").stdout.splitlines()
    assert [401] * 5 == wrong
    assert 401 == locked.status_code
    assert "locked" in locked.text
    assert SESSION_COOKIE not in set_cookies(locked)
    failures = [line for line in audit if "login-failed" in line and "user:rita" in line]
    assert 6 == len(failures)


# -- 9. audit chain -----------------------------------------------------------------------


def snapshot(data_dir: Path, folder: Path) -> Path:
    """A consistent copy of the live store (SQLite's backup API) with its master key."""
    folder.mkdir()
    shutil.copy(data_dir / "master.key", folder)
    with (
        closing(sqlite3.connect(data_dir / DB)) as live,
        closing(sqlite3.connect(folder / DB)) as copy,
    ):
        live.backup(copy)
    return folder


@pytest.fixture(scope="module")
def audited(g: ConsoleGateway, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder copied after some console actions, its audit chain verified intact."""
    message_id, sue = g.hold(), browser(g, "sue")
    with closing(sue.client):
        rejected = sue.post(f"/messages/{message_id}/reject", sue.csrf, reason=REASON)
    assert 303 == rejected.status_code
    verified = g.cli("audit", "verify")
    assert 0 == verified.returncode, verified.stdout
    copy = snapshot(g.data_dir, tmp_path_factory.mktemp("audited") / "data")
    assert 0 == verify(copy).returncode  # so the failures below come from the tampering
    return copy


TAMPERING = {
    "altered-reason": "UPDATE audit SET reason = 'none' WHERE seq = 3",
    "deleted-middle-row": "DELETE FROM audit WHERE seq = 4",
    "deleted-last-row": "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
    "swapped-rows": "CREATE TEMP TABLE old AS SELECT * FROM audit WHERE seq IN (3, 4);"
    " UPDATE audit SET (at, actor, action, target, reason, prev, mac) = (SELECT at, actor,"
    " action, target, reason, prev, mac FROM old WHERE old.seq = 7 - audit.seq)"
    " WHERE seq IN (3, 4)",
    # The head in meta is plain text: point it at the record that is now the last.
    "deleted-last-row-and-moved-head": "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM"
    " audit); UPDATE meta SET value = (SELECT seq || ':' || mac FROM audit ORDER BY seq DESC"
    " LIMIT 1) WHERE name = 'audit_head'",
}


def verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``gateway audit verify`` on ``data_dir``."""
    command = [str(GATEWAY), "audit", "verify", "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("tampering", TAMPERING)
def test_tampering_breaks_the_chain(audited: Path, tmp_path: Path, tampering: str) -> None:
    """With the triggers dropped, any edit of the audit table makes verify exit 1."""
    copy = shutil.copytree(audited, tmp_path / "data")
    with closing(sqlite3.connect(copy / DB)) as db:
        db.executescript(
            f"DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {TAMPERING[tampering]};"
        )
    result = verify(copy)
    assert 1 == result.returncode, result.stdout
    assert "BROKEN" in result.stdout


@pytest.mark.parametrize("statement", ["UPDATE audit SET reason = 'none'", "DELETE FROM audit"])
def test_triggers_refuse_audit_changes(audited: Path, tmp_path: Path, statement: str) -> None:
    """While the triggers stand, UPDATE and DELETE on the audit table fail."""
    copy = shutil.copytree(audited, tmp_path / "data")
    with (
        closing(sqlite3.connect(copy / DB)) as db,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        db.execute(statement)
