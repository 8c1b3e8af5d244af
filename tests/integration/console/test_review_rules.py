"""The review rules against a running ``gateway serve``, from the console (real HTTP
requests) and the ``gateway`` command: the sender is any address of an account in
canonical form, account names and addresses are one per account, and an emptied
audit log shows as broken on the console, in the metrics and to ``audit verify``."""

from __future__ import annotations

import contextlib
import math
import smtplib
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from email.message import EmailMessage
from pathlib import Path

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
from tests.integration.smtp_support import free_port, sink, start_gateway

DB = "gateway.sqlite3"
REASON = "checked with the caseworker"
SHARED = "Housing-Team@Council.Example.Gov.UK"


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[ConsoleGateway]:
    """One gateway (with its metrics port) for the module."""
    folder = tmp_path_factory.mktemp("rules")
    with console_gateway(folder, "--metrics", f"127.0.0.1:{metrics_port}") as running:
        yield running


@contextlib.contextmanager
def logged_in(g: ConsoleGateway, name: str) -> Iterator[tuple[httpx.Client, str]]:
    """A console client logged in as ``name``, and its CSRF token."""
    with httpx.Client(base_url=g.url, timeout=30) as client:
        assert 303 == http_login(client, name).status_code
        yield client, csrf_token(client, client.get("/").headers["location"])


def hold_as(g: ConsoleGateway, sender: str) -> str:
    """Send a high hold with envelope sender ``sender``; its quarantine id."""
    message: EmailMessage = high_hold()
    with smtplib.SMTP("127.0.0.1", g.smtp_port, timeout=30) as client:
        client.ehlo("test.client")
        client.mail(sender)
        client.rcpt("lettings@landlord.example")
        code, reply = client.data(message.as_bytes())
    assert (250, True) == (code, b"queued as Q" in reply), reply
    return reply.decode().rsplit(" ", 1)[-1]


def status(g: ConsoleGateway, message_id: str) -> str:
    listed = g.cli("quarantine", "list", "--limit", "1000").stdout.splitlines()
    return next(line for line in listed if line.startswith(message_id)).split()[3]


def cli_release(g: ConsoleGateway, user: str, message_id: str) -> tuple[int, str]:
    result = g.cli(
        "quarantine",
        "release",
        message_id,
        "--reason",
        REASON,
        "--user",
        user,
        "--upstream",
        f"127.0.0.1:{g.upstream_port}",
        stdin=PASSWORD + "\n",
    )
    return result.returncode, result.stdout + result.stderr


def refused_everywhere(g: ConsoleGateway, user: str, message_id: str) -> None:
    """``user`` cannot release ``message_id`` from the console nor the CLI: it stays held."""
    with logged_in(g, user) as (client, csrf):
        response = client.post(
            f"/messages/{message_id}/release",
            data={"csrf": csrf, "reason": REASON, "password": PASSWORD},
        )
    assert (403, True) == (response.status_code, "sender" in response.text)
    code, out = cli_release(g, user, message_id)
    assert (2, "the sender of a message cannot release it") == (
        code,
        out.split("error: ")[-1].strip(),
    )
    assert "held" == status(g, message_id)


def test_a_plus_tagged_sender_cannot_release_their_message(g: ConsoleGateway) -> None:
    """Sent as ``officer+x@council...``, the officer's release is refused (console, CLI)."""
    refused_everywhere(g, "officer", hold_as(g, "officer+x@council.example.gov.uk"))


def test_an_alias_set_on_the_users_page_makes_the_account_the_sender(g: ConsoleGateway) -> None:
    """An admin gives rita a shared mailbox on the users page; mail sent from it (any
    spelling) cannot be released by rita; the change is audited without the address."""
    with logged_in(g, "ada") as (client, csrf):
        form = {"csrf": csrf, "change": "alias-add", "name": "rita", "address": SHARED}
        assert 303 == client.post("/users", data=form).status_code
        assert SHARED.lower() in client.get("/users").text
    message_id = hold_as(g, "housing-team+leases@council.example.gov.uk")
    refused_everywhere(g, "rita", message_id)
    listed = g.cli("user", "list").stdout
    assert f"rita  rita@council.example.gov.uk  reviewer  aliases: {SHARED.lower()}" in listed
    audit = g.cli("audit", "list").stdout.splitlines()
    trail = [line for line in audit if "user-alias-add" in line and "user:rita" in line]
    assert 1 == len(trail)
    assert "sha256:" == trail[0].split()[-1][:7]
    assert "housing" not in trail[0].lower()

    with logged_in(g, "ada") as (client, csrf):
        form = {"csrf": csrf, "change": "alias-remove", "name": "rita", "address": SHARED}
        assert 303 == client.post("/users", data=form).status_code
    assert 0 == cli_release(g, "rita", message_id)[0]


def test_the_cli_gives_and_takes_aliases(g: ConsoleGateway) -> None:
    """``user add --alias`` and ``user alias NAME add|remove``: each address makes the
    account the sender while it has it."""
    added = g.cli(
        "user",
        "add",
        "vic",
        "--email",
        "vic@council.example.gov.uk",
        "--alias",
        "lettings-desk@council.example.gov.uk",
        "--role",
        "reviewer",
        stdin=PASSWORD + "\n",
    )
    assert 0 == added.returncode, added.stderr
    refused_everywhere(g, "vic", hold_as(g, "Lettings-Desk@council.example.gov.uk"))
    changed = g.cli("user", "alias", "vic", "add", "repairs@council.example.gov.uk")
    assert 0 == changed.returncode, changed.stderr
    refused_everywhere(g, "vic", hold_as(g, "repairs+1@council.example.gov.uk"))
    removed = g.cli("user", "alias", "vic", "remove", "REPAIRS@council.example.gov.uk")
    assert 0 == removed.returncode, removed.stderr
    assert 0 == cli_release(g, "vic", hold_as(g, "repairs@council.example.gov.uk"))[0]


@pytest.mark.parametrize(
    "name", ["Rob", "ROB", "\uff32\uff4f\uff42"], ids=["title", "upper", "wide"]
)
def test_case_and_width_variants_of_a_name_are_refused(g: ConsoleGateway, name: str) -> None:
    """``Rob`` and fullwidth ``Rob`` are refused next to ``rob``, by the CLI and on the
    console's users page, with a message saying why."""
    email = "rob.two@council.example.gov.uk"
    added = g.cli("user", "add", name, "--email", email, "--role", "senior", stdin=PASSWORD + "\n")
    assert (2, True) == (
        added.returncode,
        "is taken: account 'rob' has the same name" in added.stderr,
    )
    with logged_in(g, "ada") as (client, csrf):
        form = {"csrf": csrf, "change": "add", "name": name, "email": email}
        response = client.post("/users", data={**form, "password": PASSWORD, "roles": "senior"})
    assert (400, True) == (response.status_code, "is taken" in response.text)
    names = [line.split()[0] for line in g.cli("user", "list").stdout.splitlines()]
    assert 1 == sum(n.casefold() == "rob" for n in names)


def test_a_second_account_with_an_address_in_use_is_refused(g: ConsoleGateway) -> None:
    """An address in use (in any canonical spelling) cannot make a second account."""
    added = g.cli(
        "user",
        "add",
        "robert",
        "--email",
        "Rob+2@council.example.gov.uk",
        "--role",
        "senior",
        stdin=PASSWORD + "\n",
    )
    assert (2, True) == (added.returncode, "already an address of account 'rob'" in added.stderr)


def scrape(port: int, name: str) -> float:
    """The value of metric ``name`` once the first upkeep round has set it (NaN before)."""
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
        value = float(values[0]) if values else math.nan
        if not math.isnan(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


def test_an_intact_chain_shows_intact(g: ConsoleGateway, metrics_port: int) -> None:
    """An untouched chain: the audit page says intact, the metric is 1, verify exits 0."""
    assert 1.0 == scrape(metrics_port, "gateway_audit_chain_intact")
    with logged_in(g, "aud") as (client, _):
        assert "Chain intact" in client.get("/audit").text
    assert 0 == g.cli("audit", "verify").returncode


def test_an_emptied_audit_log_shows_broken_everywhere(tmp_path: Path) -> None:
    """Rows and head deleted around the triggers: ``audit verify`` exits 1, and the
    gateway started on the store shows the break on the audit page and as a metric 0."""
    with console_gateway(tmp_path) as first:
        data_dir = first.data_dir
        hold_as(first, "officer@council.example.gov.uk")
    with closing(sqlite3.connect(data_dir / DB)) as db:
        db.executescript(
            "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
            " DELETE FROM audit; DELETE FROM meta WHERE name = 'audit_head';"
        )
    verified = first.cli("audit", "verify")
    assert (1, True) == (verified.returncode, "BROKEN" in verified.stdout)
    console_port, metrics_port = free_port(), free_port()
    with sink() as (_, upstream_port):
        gateway = start_gateway(
            data_dir,
            upstream_port,
            "--console",
            f"127.0.0.1:{console_port}",
            "--metrics",
            f"127.0.0.1:{metrics_port}",
        )
        try:
            assert 0.0 == scrape(metrics_port, "gateway_audit_chain_intact")
            wait_for_port(console_port)
            again = ConsoleGateway(
                gateway, f"http://127.0.0.1:{console_port}", data_dir, first.upstream
            )
            with logged_in(again, "aud") as (client, _):
                page = client.get("/audit").text
            assert "Chain BROKEN" in page
            assert "genesis record is missing" in page
        finally:
            gateway.stop()
