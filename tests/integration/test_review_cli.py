"""Review from the command line, against a running gateway and its upstream sink."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml

from tests.integration.console_support import PASSWORD, ConsoleGateway, console_gateway, high_hold
from tests.integration.smtp_support import REPO
from tests.integration.support import REGISTER, SAFE_ADDRESS


def _released(g: ConsoleGateway, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(g.upstream.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count == len(g.upstream.messages)


def _act(g: ConsoleGateway, user: str, *argv: str) -> tuple[int, str]:
    upstream = ("--upstream", f"127.0.0.1:{g.upstream_port}")
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
        assert ["approve", "approve", "release", "delivered", "view", "purge"] == actions
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
