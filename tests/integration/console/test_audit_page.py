"""The audit page and its CSV export against a running ``gateway serve`` (real HTTP
requests): filters, the export's columns, its own audit record and its neutralised
formulas; failed re-authentications and refused approvals are in the log."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    csrf_token,
    high_hold,
    http_login,
    leak,
)

FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    """One gateway for the module; each test holds the messages it acts on."""
    with console_gateway(tmp_path_factory.mktemp("audit")) as running:
        yield running


@contextlib.contextmanager
def logged_in(g: ConsoleGateway, name: str) -> Iterator[tuple[httpx.Client, str]]:
    """A console client logged in as ``name``, and its CSRF token."""
    with httpx.Client(base_url=g.url, timeout=30) as client:
        assert 303 == http_login(client, name).status_code
        yield client, csrf_token(client, client.get("/").headers["location"])


def release(g: ConsoleGateway, name: str, message_id: str, password: str = PASSWORD) -> int:
    """``name`` releases ``message_id`` from its page; the response's status."""
    with logged_in(g, name) as (client, csrf):
        fields = {"reason": "checked with the caseworker", "password": password, "csrf": csrf}
        return client.post(f"/messages/{message_id}/release", data=fields).status_code


def exported(g: ConsoleGateway, **query: str) -> list[dict[str, str]]:
    """The auditor's CSV export for ``query``, as rows by column name."""
    with logged_in(g, "aud") as (client, _):
        response = client.get("/audit.csv", params=query)
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_page_filters_by_user_action_and_target(g: ConsoleGateway) -> None:
    """Only the matching records are listed; the form is labelled and keeps its values."""
    message_id = g.hold(high_hold())
    with logged_in(g, "rita") as (client, _):
        assert 200 == client.get(f"/messages/{message_id}").status_code
    with logged_in(g, "aud") as (client, _):
        page = client.get(
            "/audit", params={"actor": "user:rita", "action": "view", "target": message_id}
        ).text
        everything = client.get("/audit").text
    assert 1 == page.count(f'<a href="/messages/{message_id}">')
    assert "login" not in page.split("<tbody>")[1]
    assert "newest first (filtered)</caption>" in page
    assert 'th scope="col"' in page
    for field in ("actor", "action", "target", "from", "to"):
        assert f'<label for="audit-{field}">' in page
    assert '<option value="view" selected>' in page
    assert everything.split("<tbody>")[1].count("<tr>") > 2


def test_the_export_lists_the_matches_neutralises_formulas_and_is_audited(
    g: ConsoleGateway,
) -> None:
    """A reason typed as a formula comes out quoted; the export leaves its own record."""
    message_id = g.hold(high_hold())
    with logged_in(g, "rob") as (client, csrf):
        rejected = client.post(
            f"/messages/{message_id}/reject", data={"reason": FORMULA, "csrf": csrf}
        )
    assert 303 == rejected.status_code
    rows = exported(g, target=message_id, action="reject")
    assert 1 == len(rows)
    assert ["seq", "at", "actor", "action", "target", "reason"] == list(rows[0])
    assert ("user:rob", "reject", "'" + FORMULA) == (
        rows[0]["actor"],
        rows[0]["action"],
        rows[0]["reason"],
    )
    assert rows[0]["at"].endswith("+00:00")
    exports = exported(g, action="audit-export")
    assert f"filter action=reject target={message_id}" in {r["reason"] for r in exports}


def test_only_auditors_and_admins_may_export(g: ConsoleGateway) -> None:
    """A reviewer is refused the CSV, as the page."""
    with logged_in(g, "rita") as (client, _):
        assert 403 == client.get("/audit.csv").status_code
    with logged_in(g, "ada") as (client, _):
        assert 200 == client.get("/audit.csv", params={"action": "login"}).status_code


def test_a_wrong_password_before_a_release_is_audited(g: ConsoleGateway) -> None:
    """The failed re-authentication is recorded against the message, in words."""
    message_id = g.hold(high_hold())
    assert 303 != release(g, "rita", message_id, "not the password")
    rows = exported(g, target=message_id, action="reauth-failed")
    assert [
        ("user:rita", "password or code refused before a release (wrong, or the account locked)")
    ] == [(r["actor"], r["reason"]) for r in rows]


def test_refused_approvals_are_audited(g: ConsoleGateway) -> None:
    """The sender's own release, a second approval by the first approver, and a second
    approval by a reviewer who is not senior are each recorded as refused."""
    own = g.hold(high_hold())
    assert 403 == release(g, "officer", own)
    critical = g.hold(leak())
    assert 303 == release(g, "rita", critical)  # the first approval
    assert 303 != release(g, "rita", critical)
    assert 403 == release(g, "rob", critical)
    refused = exported(g, action="approval-refused")
    assert [("user:officer", "the sender may not release it")] == [
        (r["actor"], r["reason"]) for r in refused if r["target"] == own
    ]
    assert [
        ("user:rita", "the same reviewer approved it already"),
        ("user:rob", "the second approver is not a senior reviewer"),
    ] == [(r["actor"], r["reason"]) for r in refused if r["target"] == critical]
