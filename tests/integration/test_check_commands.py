"""``gateway policy check`` and ``gateway register check``: validate before deploying."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from tests.integration.support import REGISTER


def test_policy_check_lists_the_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped policy folder is valid and its five rules are listed."""
    assert 0 == main(["policy", "check"])
    out = capsys.readouterr().out
    assert "5 rules enabled" in out
    assert "restricted-recipient-protected-data: quarantine" in out


def test_policy_check_names_file_and_line_of_a_bad_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule with a bad action fails with exit 2, naming the file and the line."""
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - id: r1\n    when: {recipient: [any]}\n    action: explode\n")
    assert 2 == main(["policy", "check", str(tmp_path)])
    err = capsys.readouterr().err
    assert f"{bad}:4" in err


def test_policy_check_shows_monitor_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule in monitor mode is marked as such."""
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - id: watch\n    when: {recipient: [restricted]}\n"
        "    action: quarantine\n    severity: medium\n    mode: monitor\n"
    )
    assert 0 == main(["policy", "check", str(tmp_path)])
    assert "watch: quarantine (monitor)" in capsys.readouterr().out


def test_register_check_counts_cases(capsys: pytest.CaptureFixture[str]) -> None:
    """A valid register is summarised without any of its values."""
    assert 0 == main(["register", "check", str(REGISTER)])
    out = capsys.readouterr().out
    assert "ok, 2 cases, 3 protected people, 1 protected locations" in out
    assert "Whitmore" not in out
