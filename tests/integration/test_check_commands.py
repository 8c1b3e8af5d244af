"""``gateway policy check`` and ``gateway register check``: validate before deploying."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from gateway.cli import main
from tests.integration.smtp_support import GATEWAY
from tests.integration.support import REGISTER, CliRun


def test_policy_check_lists_the_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped policy folder is valid and its six rules are listed."""
    assert 0 == main(["policy", "check"])
    out = capsys.readouterr().out
    assert "6 rules enabled" in out
    assert "restricted-recipient-protected-data: quarantine" in out
    assert "failed-redaction-external: quarantine" in out


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


# --- `gateway register check`, run as the installed command ---------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPORT, MAPPING = EXAMPLES / "case-export.csv", EXAMPLES / "case-export-mapping.yaml"
# every value in the example export (names, addresses, phones, emails, dates)
EXPORT_VALUES = [
    cell
    for row in csv.reader(EXPORT.read_text(encoding="utf-8").splitlines()[1:])
    for cell in row[2:]
    if cell
]


def _check(*argv: object) -> CliRun:
    """``gateway register check ARGV`` as a user runs it."""
    done = subprocess.run(
        [str(GATEWAY), "register", "check", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return CliRun(done.returncode, done.stdout, done.stderr)


def _export(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "export.csv"
    header = EXPORT.read_text(encoding="utf-8").splitlines()[0]
    path.write_text("\r\n".join([header, *rows]) + "\r\n", encoding="utf-8")
    return path


def test_register_check_reads_the_example_export_with_its_mapping() -> None:
    """The shipped CSV export and mapping check clean, and nothing of them is printed."""
    result = _check("--format", "csv", "--mapping", MAPPING, EXPORT)
    assert (0, "") == (result.status, result.err)
    assert f"{EXPORT}: ok, 2 cases, 3 protected people, 0 protected locations, 0 warnings\n" == (
        result.out
    )


def test_register_check_reports_five_bad_rows_with_lines_and_columns(tmp_path: Path) -> None:
    """An export with five bad rows fails with exit 2 and one error per bad row, each
    with file, line, column and case id, and no value of the file."""
    good = EXPORT.read_text(encoding="utf-8").splitlines()[1:]
    rows = [
        good[0].replace("17/04/1988", "04/17/1988"),  # line 2: month first
        good[1],
        good[2].replace("Alleged Perpetrator", "Neighbour"),  # line 4: an unknown role
        good[3].replace("caseworker@council", "caseworker.council"),  # line 5: not an email
        good[5].replace("CL-2025-0007", ""),  # line 6: no case id
        good[5],
        good[6].replace("Daniel,", "Daniel, Dan,"),  # line 8: one field too many
    ]
    result = _check("--mapping", MAPPING, _export(tmp_path, rows))
    assert 2 == result.status
    errors = [line for line in result.err.splitlines() if line.startswith("gateway: error:")]
    bad = tmp_path / "export.csv"
    expected = [
        f"gateway: error: {bad}:2:13: case DA-2025-0142: date_of_birth (column",
        f"gateway: error: {bad}:4:2: case DA-2025-0142: role (column",
        f"gateway: error: {bad}:5:12: case DA-2025-0142: allowed_recipients (column",
        f"gateway: error: {bad}:6:1: case_id (column",
        f"gateway: error: {bad}:8: 16 fields where the header has 15",
    ]
    assert len(expected) == len(errors)
    assert expected == [error[: len(start)] for start, error in zip(expected, errors, strict=True)]
    assert f"{bad}: 5 errors, not loaded" in result.err
    assert not any(value in result.out + result.err for value in EXPORT_VALUES)


def test_register_check_reports_every_yaml_error_and_the_duplicate_at_its_line(
    tmp_path: Path,
) -> None:
    """A YAML register with three mistakes gets all three, the duplicate id at its own
    line, and exit 2."""
    text = REGISTER.read_text(encoding="utf-8")
    text = text.replace("[dan.cole@example.com]", "[dan.cole.example.com]")
    text = text.replace("        addresses:", "        adresses:")
    text = text.replace("id: CL-2025-0007", "id: DA-2025-0142")
    bad = tmp_path / "reg.yaml"
    bad.write_text(text, encoding="utf-8")
    result = _check(bad)
    assert 2 == result.status
    assert [f"{bad}:14:", f"{bad}:28:", f"{bad}:34:"] == [
        line.split(" ")[2] for line in result.err.splitlines()[:3]
    ]
    assert "cases[1].id: duplicate id, first used at line 9" in result.err
    assert "dan.cole" not in result.err


def test_register_check_prints_warnings_and_still_exits_zero(tmp_path: Path) -> None:
    """Warnings name the line, case and field (never a value); they do not fail the check."""
    rows = EXPORT.read_text(encoding="utf-8").splitlines()[1:]
    rows[0] = rows[0].replace("LS6 3QT", "")  # an address without its postcode
    rows[6] = rows[6].replace("CL-2025-0007,Subject", "CL-2025-0007,Referrer")  # no restricted
    result = _check("--mapping", MAPPING, _export(tmp_path, rows))
    bad = tmp_path / "export.csv"
    assert (0, "") == (result.status, result.err)
    expected = [
        f"{bad}:2:6: warning: case DA-2025-0142: protected[0].addresses[0]: no UK postcode",
        f"{bad}:7:1: warning: case CL-2025-0007: restricted: no restricted contact",
    ]
    warnings = result.out.splitlines()[:-1]
    assert len(expected) == len(warnings)
    assert expected == [line[: len(start)] for start, line in zip(expected, warnings, strict=True)]
    assert "2 warnings" in result.out
    assert not any(value in result.out for value in EXPORT_VALUES)


def test_the_readme_export_example_gives_the_output_it_shows() -> None:
    """The README's command reading the example export prints exactly what it shows."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("### A register from a case-management export")[1].split("```")[1]
    command, *shown = block.strip().splitlines()
    argv = command.removeprefix("$ gateway register check ").split()
    done = subprocess.run(
        [str(GATEWAY), "register", "check", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=EXAMPLES.parent,
    )
    assert (0, shown) == (done.returncode, done.stdout.splitlines())
