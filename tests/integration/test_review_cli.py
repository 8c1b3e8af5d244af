"""Review from the command line, against a running gateway and its upstream sink."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import yaml

from gateway.crypto import KeyRing
from tests.integration.console_support import (
    PASSWORD,
    SENDER,
    ConsoleGateway,
    console_gateway,
    high_hold,
)
from tests.integration.smtp_support import GATEWAY, REPO
from tests.integration.support import REGISTER, SAFE_ADDRESS
from tests.unit.review.legacy import PASSWORD as OLD_PASSWORD
from tests.unit.review.legacy import old_store


def _released(g: ConsoleGateway, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(g.upstream.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count == len(g.upstream.messages)


def _act(g: ConsoleGateway, user: str, *argv: str) -> tuple[int, str]:
    # a false positive sends nothing: it takes no --upstream
    upstream = ("--upstream", f"127.0.0.1:{g.upstream_port}") if argv[0] != "false-positive" else ()
    result = g.cli("quarantine", *argv, "--user", user, *upstream, stdin=PASSWORD + "\n")
    return result.returncode, result.stdout + result.stderr


def test_release_reject_export_purge_and_audit_from_the_cli(tmp_path: Path) -> None:
    """The CLI applies the console's rules, delivers releases, and every step is audited."""
    with console_gateway(tmp_path) as g:
        critical, high, other = g.hold(), g.hold(high_hold()), g.hold(high_hold("Second"))
        listed = g.cli("quarantine", "list", "--status", "held", "--case", "DA-2025-0142")
        assert {critical, high, other} <= set(listed.stdout.split())
        assert SAFE_ADDRESS not in listed.stdout

        assert (2, "gateway: error: the sender of a message cannot release it\n") == _act(
            g, "officer", "release", high, "--reason", "mine"
        )
        status, out = _act(g, "rita", "release", critical, "--reason", "checked")
        assert (0, True) == (status, "approved" in out)
        assert 2 == _act(g, "rob", "release", critical, "--reason", "not senior")[0]
        status, out = _act(g, "sue", "release", critical, "--reason", "agreed")
        assert (0, True) == (status, "accepted by the upstream" in out)
        assert 0 == _act(g, "rita", "release", high, "--reason", "fine")[0]
        _released(g, 2)
        assert 0 == _act(g, "rob", "reject", other, "--reason", "wrong person")[0]
        assert 2 == _act(g, "rob", "release", other, "--reason", "changed my mind")[0]

        shown = g.cli("quarantine", "show", critical, "--user", "aud", stdin=PASSWORD + "\n")
        assert 0 == shown.returncode, shown.stderr
        assert "approved by: rita, sue" in shown.stdout
        assert SAFE_ADDRESS in shown.stdout  # the evidence, for an authenticated auditor
        out_file = tmp_path / "exported.eml"
        exported = g.cli(
            "quarantine",
            "export",
            other,
            "--user",
            "aud",
            "-o",
            str(out_file),
            stdin=PASSWORD + "\n",
        )
        assert 0 == exported.returncode, exported.stderr
        assert SAFE_ADDRESS.encode() in out_file.read_bytes()

        purged = g.cli("quarantine", "purge", "--older-than", "0")
        assert "purged 3 messages" in purged.stdout
        assert "no messages" in g.cli("quarantine", "list").stdout
        trail = g.cli("audit", "list", "--target", critical).stdout
        actions = [line.split()[4] for line in trail.splitlines()]
        # rob's refused approval is audited too (issue 15)
        assert [
            "approve",
            "approval-refused",
            "approve",
            "release",
            "delivered",
            "view",
            "purge",
        ] == actions
        assert 0 == g.cli("audit", "verify").returncode


def test_a_release_the_upstream_refuses_for_good_is_held_again(tmp_path: Path) -> None:
    """The real upstream answers 550 to the recipient at release: held again, not lost."""
    with console_gateway(tmp_path) as g:
        message_id = g.hold(high_hold())
        g.upstream.refuse.add("lettings@landlord.example")
        status, out = _act(g, "rita", "release", message_id, "--reason", "fine")
        assert (0, True) == (
            status,
            "refused it for good (the upstream refused the recipient "
            "(550)); it is held again" in out,
        )
        assert message_id in g.cli("quarantine", "list", "--status", "held").stdout
        g.upstream.refuse.clear()
        assert 0 == _act(g, "rita", "release", message_id, "--reason", "address fixed")[0]
        _released(g, 1)


def test_a_rule_asking_for_a_rescan_stops_a_release_the_new_register_catches(
    tmp_path: Path,
) -> None:
    """release: rescan; the landlord becomes a restricted contact after the hold: the
    release is stopped; a message the rescan finds nothing new in is released."""
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    (policies / "local.d" / "50-rescan.yaml").write_text(
        "rules:\n  - id: external-recipient-protected-address\n    release: rescan\n"
    )
    with console_gateway(tmp_path, "--policies", str(policies)) as g:
        caught, clean = g.hold(high_hold()), g.hold(high_hold("Other"), to=("x@agency.example",))
        register = yaml.safe_load(REGISTER.read_text())
        register["cases"][0]["restricted"][0]["emails"].append("lettings@landlord.example")
        changed = tmp_path / "register.yaml"
        changed.write_text(yaml.safe_dump(register))
        assert 0 == g.cli("register", "import", "--yes", str(changed)).returncode
        status, out = _act(
            g, "rita", "release", caught, "--reason", "ok", "--policies", str(policies)
        )
        assert 2 == status
        assert "stays held: a rescan fires restricted-recipient-protected-data" in out
        assert caught in g.cli("quarantine", "list", "--status", "held").stdout
        status, out = _act(
            g, "rita", "release", clean, "--reason", "ok", "--policies", str(policies)
        )
        assert (0, True) == (status, "accepted by the upstream" in out)
        assert "release-stopped" in g.cli("audit", "list", "--target", caught).stdout


def _verify(data_dir: Path) -> tuple[int, str]:
    command = [str(GATEWAY), "audit", "verify", "--data-dir", str(data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return result.returncode, result.stdout + result.stderr


def _empty_the_log(database: Path, *more: str) -> None:
    """Delete the audit rows and head around the triggers (and run ``more``)."""
    with closing(sqlite3.connect(database)) as db:
        for statement in (
            "DROP TRIGGER IF EXISTS audit_no_update",
            "DROP TRIGGER IF EXISTS audit_no_delete",
            "DELETE FROM audit",
            "DELETE FROM meta WHERE name = 'audit_head'",
            *more,
        ):
            db.execute(statement)
        db.commit()


def test_audit_verify_fails_on_an_emptied_log_of_an_upgraded_store(tmp_path: Path) -> None:
    """A store from before genesis records verifies once upgraded; emptied (and its
    genesis mark deleted, so the next open looks like the first), verify exits 1."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    keys = KeyRing.generate(data_dir / "master.key")
    old_store(data_dir / "gateway.sqlite3", keys, [("rita", "rita@council.example")], 3)
    assert (0, "audit chain intact: 4 records\n") == _verify(data_dir)
    _empty_the_log(data_dir / "gateway.sqlite3")
    status, out = _verify(data_dir)
    assert (1, True) == (status, "genesis record is missing" in out)
    _empty_the_log(data_dir / "gateway.sqlite3", "DELETE FROM meta WHERE name = 'audit_genesis'")
    status, out = _verify(data_dir)
    assert (1, True) == (status, "it had been emptied" in out)


def test_audit_verify_fails_on_an_emptied_log_of_a_new_store(tmp_path: Path) -> None:
    """A store made by ``gateway user add``, its log emptied with its head: exit 1."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    KeyRing.generate(data_dir / "master.key")
    added = subprocess.run(
        [
            str(GATEWAY),
            "user",
            "add",
            "ada",
            "--email",
            "ada@council.example",
            "--role",
            "admin",
            "--data-dir",
            str(data_dir),
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == added.returncode, added.stderr
    assert (0, "audit chain intact: 1 records\n") == _verify(data_dir)
    _empty_the_log(data_dir / "gateway.sqlite3")
    status, out = _verify(data_dir)
    assert (1, True) == (status, "BROKEN" in out)


def test_user_list_reports_accounts_made_before_names_were_unique(tmp_path: Path) -> None:
    """An older store's ``Sue`` and ``sue`` open, are both marked in ``user list`` as
    unable to log in, and a release by one is refused until an admin disables the other."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    keys = KeyRing.generate(data_dir / "master.key")
    users = [("Sue", "sue@council.example"), ("sue", "sue.b@council.example")]
    old_store(data_dir / "gateway.sqlite3", keys, users, 1)

    def gateway(*argv: str) -> subprocess.CompletedProcess[str]:
        command = [str(GATEWAY), *argv, "--data-dir", str(data_dir)]
        stdin = OLD_PASSWORD + "\n"
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )

    listed = gateway("user", "list").stdout.splitlines()
    assert 2 == sum("CANNOT LOG IN: its name is shared by accounts Sue, sue" in x for x in listed)
    released = gateway("quarantine", "release", "Q1", "--reason", "ok", "--user", "sue")
    assert (2, True) == (released.returncode, "shares its name" in released.stderr)
    assert 0 == gateway("user", "disable", "Sue").returncode
    assert ["sue  sue.b@council.example  senior"] == [
        line for line in gateway("user", "list").stdout.splitlines() if line.startswith("sue ")
    ]
    released = gateway("quarantine", "release", "Q1", "--reason", "ok", "--user", "sue")
    assert (2, "gateway: error: no message Q1\n") == (released.returncode, released.stderr)


def test_list_says_when_it_stops_at_the_limit_and_all_lists_everything(tmp_path: Path) -> None:
    """Three held, --limit 2: two lines and a line saying more match; --all: three.  A
    search by subject words, sender or recipient lists what it finds, with the same
    limit."""
    with console_gateway(tmp_path) as g:
        ids = [g.hold(high_hold(f"Tenancy {words}")) for words in ("north", "south", "north east")]
        cut = g.cli("quarantine", "list", "--limit", "2").stdout.splitlines()
        assert 3 == len(cut)
        assert "(the first 2 shown; more match: --limit N, or --all)" == cut[-1]
        every = g.cli("quarantine", "list", "--all").stdout.splitlines()
        assert set(ids) == {line.split()[0] for line in every}

        def listed(*search: str) -> list[str]:
            return g.cli("quarantine", "list", *search).stdout.splitlines()

        north = listed("--subject", "NORTH tenancy")
        assert {ids[0], ids[2]} == {line.split()[0] for line in north}
        by_sender = listed("--sender", SENDER.upper(), "--limit", "2")
        assert [*ids[:2], "(the first 2 shown; more match: --limit N, or --all)"] == [
            line.split()[0] if line.startswith("Q") else line for line in by_sender
        ]
        assert ["no messages"] == listed("--recipient", "someone@elsewhere.example")


def test_a_release_by_an_account_with_a_second_factor_asks_for_its_code(tmp_path: Path) -> None:
    """No --code for an account with TOTP: the CLI says a code is needed (not a bare
    login failure), and nothing is released."""
    with console_gateway(tmp_path) as g:
        message = g.hold(high_hold())
        assert 0 == g.cli("user", "totp", "rita").returncode
        status, out = _act(g, "rita", "release", message, "--reason", "checked")
        assert (
            2,
            "gateway: error: account rita has a second factor: give its code with --code\n",
        ) == (
            status,
            out,
        )
        assert [] == g.upstream.messages
