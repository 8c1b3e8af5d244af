"""``gateway scan`` as ``shared/contracts/scan-cli.md`` describes it: output, exits, policy."""

# STYLE.md asks for `expected == actual`, which ruff reads as a Yoda condition.

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .support import (
    CASEWORKER,
    DAN,
    LANDLORD,
    MARK,
    REFUGE_ADDRESS,
    SAFE_ADDRESS,
    CliRun,
    kinds_and_cases,
)

Gateway = Callable[..., CliRun]
WriteMail = Callable[..., Path]
Scan = Callable[..., dict[str, Any]]

TOP_KEYS = {"file", "action", "rules", "findings", "elapsed_ms"}
FINDING_KEYS = {"kind", "case", "location", "confidence", "score"}
ACTIONS = {"deliver", "quarantine", "reject", "tempfail"}
RESTRICTED_RULE = "restricted-recipient-protected-data"
EXTERNAL_RULE = "external-recipient-protected-address"
DA_CASE = "DA-2025-0142"
CL_CASE = "CL-2025-0007"


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def bad_register(tmp_path: Path, register: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of the example register with ``old`` replaced by ``new``; the changed line."""
    text = register.read_text(encoding="utf-8")
    assert old in text
    changed = text.replace(old, new, 1)
    path = tmp_path / "bad-register.yaml"
    path.write_text(changed, encoding="utf-8")
    return path, line_of(changed, new.splitlines()[-1])


# --- JSON output ---------------------------------------------------------------------


def test_json_output_has_one_line_per_message_with_the_contract_keys(
    gateway: Gateway, register: Path, write_mail: WriteMail
) -> None:
    """Every message gives one JSON object carrying the contract's keys and finding keys."""
    leak = write_mail("leak.eml", body=f"She is at {SAFE_ADDRESS}.")
    plain = write_mail("plain.eml")
    result = gateway("scan", "--register", register, "--json", leak, plain)
    assert 0 == result.status, result.err
    records = result.records
    assert 2 == len(records)
    for record in records:
        assert TOP_KEYS <= set(record), record
        assert record["action"] in ACTIONS
        assert isinstance(record["rules"], list)
        assert isinstance(record["elapsed_ms"], int | float)
        for finding in record["findings"]:
            assert FINDING_KEYS <= set(finding), finding
    assert records[0]["findings"], "the leak should have findings"


def test_json_lines_follow_the_input_order(
    gateway: Gateway, register: Path, write_mail: WriteMail
) -> None:
    """Records come out in the order the PATHs were given, not sorted."""
    paths = [write_mail(name) for name in ("c.eml", "a.eml", "b.eml")]
    result = gateway("scan", "--register", register, "--json", *paths)
    assert [str(p) for p in paths] == [r["file"] for r in result.records]


def test_file_is_the_path_exactly_as_given(
    gateway: Gateway,
    register: Path,
    write_mail: WriteMail,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``file`` repeats the command-line path verbatim, relative and unnormalised."""
    write_mail("m1.eml")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    given = "./sub/../m1.eml"
    result = gateway("scan", "--register", register, "--json", given)
    assert given == result.record["file"]


def test_a_folder_path_scans_its_eml_files_in_sorted_order(
    gateway: Gateway, register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """A folder PATH yields its *.eml files sorted by name, and skips other files."""
    folder = tmp_path / "batch"
    for name in ("b.eml", "c.eml", "a.eml"):
        write_mail(name, folder=folder)
    (folder / "notes.txt").write_text("not a message", encoding="utf-8")
    result = gateway("scan", "--register", register, "--json", folder)
    assert 0 == result.status, result.err
    assert [str(folder / n) for n in ("a.eml", "b.eml", "c.eml")] == [
        r["file"] for r in result.records
    ]


def test_manifest_resolves_paths_against_its_folder_and_uses_each_envelope(
    gateway: Gateway,
    register: Path,
    write_mail: WriteMail,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Manifest paths are relative to the manifest, and each line's rcpt decides its verdict."""
    batch = tmp_path / "batch"
    write_mail(
        "postcode.eml", folder=batch / "mail", to=[LANDLORD], body="The new place is near LS6 3QT."
    )
    entries = [
        {"file": "mail/postcode.eml", "mail_from": "worker@council.example.gov.uk", "rcpt": [MARK]},
        {
            "file": "mail/postcode.eml",
            "mail_from": "worker@council.example.gov.uk",
            "rcpt": [CASEWORKER],
        },
    ]
    manifest = batch / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = gateway("scan", "--register", register, "--json", "--manifest", manifest)
    assert 0 == result.status, result.err
    records = result.records
    assert ["mail/postcode.eml", "mail/postcode.eml"] == [r["file"] for r in records]
    assert ["quarantine", "deliver"] == [r["action"] for r in records]
    assert ("restricted_recipient", DA_CASE) in kinds_and_cases(records[0])


# --- exit status -----------------------------------------------------------------------


def test_exit_status_is_zero_when_every_message_was_scanned_whatever_the_verdict(
    gateway: Gateway, register: Path, write_mail: WriteMail
) -> None:
    """A quarantined message is a successful scan: exit 0."""
    leak = write_mail("leak.eml", body=f"She is at {SAFE_ADDRESS}.")
    result = gateway("scan", "--register", register, "--json", leak)
    assert 0 == result.status
    assert "quarantine" == result.record["action"]


def test_a_missing_file_gives_an_error_line_and_exit_one_while_the_others_are_scanned(
    gateway: Gateway, register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """The unreadable file gets an ``error`` record in its place; the rest still scan."""
    first = write_mail("first.eml")
    missing = tmp_path / "missing.eml"
    last = write_mail("last.eml", body=f"She is at {SAFE_ADDRESS}.")
    result = gateway("scan", "--register", register, "--json", first, missing, last)
    assert 1 == result.status
    records = result.records
    assert [str(first), str(missing), str(last)] == [r["file"] for r in records]
    assert "error" in records[1]
    assert isinstance(records[1]["error"], str)
    assert ["deliver", "quarantine"] == [records[0]["action"], records[2]["action"]]


def test_no_path_and_no_manifest_is_a_usage_error(gateway: Gateway, register: Path) -> None:
    """Without PATH or --manifest there is nothing to scan: exit 2 with a message."""
    result = gateway("scan", "--register", register, "--json")
    assert 2 == result.status
    assert "" == result.out
    assert result.err.strip()


def test_both_paths_and_a_manifest_is_a_usage_error(
    gateway: Gateway, register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """PATHs and --manifest together are refused: exit 2, nothing scanned."""
    message = write_mail("m.eml")
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps({"file": "m.eml"}) + "\n", encoding="utf-8")
    result = gateway("scan", "--register", register, "--json", "--manifest", manifest, message)
    assert 2 == result.status
    assert "" == result.out


def test_an_unknown_option_is_a_usage_error(
    gateway: Gateway, register: Path, write_mail: WriteMail
) -> None:
    """An option the CLI does not know exits 2."""
    result = gateway("scan", "--register", register, "--no-such-option", write_mail())
    assert 2 == result.status


@pytest.mark.parametrize(
    ("old", "new", "case", "field"),
    [
        pytest.param(
            "emails: [priya.raman@example.net]",
            "emails: [priya.raman@@example]",
            CL_CASE,
            "emails",
            id="bad-email",
        ),
        pytest.param(
            "        date_of_birth: 2016-09-02",
            "        date_of_birth: 2016-09-02\n        favourite_colour: blue",
            DA_CASE,
            "favourite_colour",
            id="unknown-field",
        ),
        pytest.param(
            "date_of_birth: 1988-04-17",
            "date_of_birth: 1988-13-45",
            DA_CASE,
            "date_of_birth",
            id="bad-date",
        ),
    ],
)
def test_an_invalid_register_exits_two_naming_file_line_case_and_field(
    gateway: Gateway,
    register: Path,
    write_mail: WriteMail,
    tmp_path: Path,
    old: str,
    new: str,
    case: str,
    field: str,
) -> None:
    """A register mistake is reported as FILE:LINE with the case id and the field."""
    bad, line = bad_register(tmp_path, register, old, new)
    result = gateway("scan", "--register", bad, "--json", write_mail())
    assert 2 == result.status
    assert "" == result.out
    assert f"{bad}:{line}" in result.err
    assert case in result.err
    assert field in result.err


def test_register_check_reports_the_same_mistake(
    gateway: Gateway, register: Path, tmp_path: Path
) -> None:
    """``gateway register check`` exits 2 and names the place of a bad email."""
    bad, line = bad_register(
        tmp_path, register, "emails: [priya.raman@example.net]", "emails: [priya.raman@@example]"
    )
    result = gateway("register", "check", bad)
    assert 2 == result.status
    assert f"{bad}:{line}" in result.err
    assert CL_CASE in result.err


def test_an_invalid_policy_folder_exits_two_naming_file_and_line(
    gateway: Gateway, register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """A policy file with a bad action is reported as FILE:LINE, exit 2."""
    policies = tmp_path / "policies"
    policies.mkdir()
    rules = policies / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: hold-everything\n"
        "    when:\n"
        "      recipient: [any]\n"
        "    action: quarantain\n"
        "    severity: high\n",
        encoding="utf-8",
    )
    result = gateway("scan", "--register", register, "--policies", policies, "--json", write_mail())
    assert 2 == result.status
    assert "" == result.out
    assert f"{rules}:5" in result.err


def test_a_malformed_manifest_line_exits_two_naming_the_manifest_and_line(
    gateway: Gateway, register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """A line that is not JSON is reported with the manifest's name and line number."""
    write_mail("m.eml")
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps({"file": "m.eml"}) + "\n{not json\n", encoding="utf-8")
    result = gateway("scan", "--register", register, "--json", "--manifest", manifest)
    assert 2 == result.status
    assert f"{manifest}:2" in result.err


# --- options ---------------------------------------------------------------------------


def test_explain_names_the_rules_that_fired(
    gateway: Gateway, register: Path, write_mail: WriteMail
) -> None:
    """``--explain`` says which rule held the message."""
    leak = write_mail("leak.eml", body=f"She is at {SAFE_ADDRESS}.")
    result = gateway("scan", "--register", register, "--explain", leak)
    assert 0 == result.status, result.err
    assert RESTRICTED_RULE in result.out + result.err


def test_explain_with_json_keeps_stdout_pure_json_lines(
    gateway: Gateway, register: Path, write_mail: WriteMail
) -> None:
    """With ``--json --explain`` every stdout line still parses as JSON."""
    leak = write_mail("leak.eml", body=f"She is at {SAFE_ADDRESS}.")
    result = gateway("scan", "--register", register, "--json", "--explain", leak)
    assert 1 == len(result.records)
    assert RESTRICTED_RULE in result.err


def test_a_custom_policy_folder_with_one_rule_changes_the_verdict(
    gateway: Gateway, register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """A single custom rule holding names to anyone quarantines what the default delivers."""
    message = write_mail(to=[LANDLORD], body="Sarah Whitmore asked me to call.")
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "names.yaml").write_text(
        "rules:\n"
        "  - id: hold-names\n"
        "    when:\n"
        "      recipient: [any]\n"
        "      findings: [name]\n"
        "    action: quarantine\n"
        "    severity: medium\n",
        encoding="utf-8",
    )
    default = gateway("scan", "--register", register, "--json", message)
    custom = gateway("scan", "--register", register, "--policies", policies, "--json", message)
    assert "deliver" == default.record["action"]
    assert "quarantine" == custom.record["action"]
    assert ["hold-names"] == custom.record["rules"]


def test_internal_domain_makes_an_address_leak_deliverable(
    scan: Scan, write_mail: WriteMail
) -> None:
    """An address sent to a recipient in an --internal-domain is not held."""
    message = write_mail(to=["officer@agency.example"], body=f"She is at {SAFE_ADDRESS}.")
    assert "quarantine" == scan(message)["action"]
    assert "deliver" == scan(message, "--internal-domain", "agency.example")["action"]


def test_internal_domain_covers_its_subdomains(scan: Scan, write_mail: WriteMail) -> None:
    """A recipient in a subdomain of an --internal-domain is internal too."""
    message = write_mail(to=["officer@north.agency.example"], body=f"She is at {SAFE_ADDRESS}.")
    assert "deliver" == scan(message, "--internal-domain", "agency.example")["action"]


def test_internal_domain_does_not_cover_a_lookalike_suffix(
    scan: Scan, write_mail: WriteMail
) -> None:
    """``evilagency.example`` is not a subdomain of ``agency.example``."""
    message = write_mail(to=["officer@evilagency.example"], body=f"She is at {SAFE_ADDRESS}.")
    assert "quarantine" == scan(message, "--internal-domain", "agency.example")["action"]


@pytest.mark.parametrize("header", ["to", "cc", "bcc"])
def test_without_rcpt_the_recipients_come_from_to_cc_and_bcc(
    scan: Scan, write_mail: WriteMail, header: str
) -> None:
    """A restricted contact in To, Cc or Bcc is a recipient when no --rcpt is given."""
    fields: dict[str, Any] = {"to": ["friend@elsewhere.example"], "body": "Near LS6 3QT."}
    fields[header] = [*fields.get(header, []), MARK] if header == "to" else [MARK]
    record = scan(write_mail(**fields))
    assert "quarantine" == record["action"]
    assert ("restricted_recipient", DA_CASE) in kinds_and_cases(record)


def test_with_rcpt_the_envelope_recipient_is_used(scan: Scan, write_mail: WriteMail) -> None:
    """--rcpt names the restricted contact even when the headers do not."""
    message = write_mail(to=["friend@elsewhere.example"], body="Near LS6 3QT.")
    assert "deliver" == scan(message)["action"]
    record = scan(message, "--rcpt", MARK, "--mail-from", "worker@council.example.gov.uk")
    assert "quarantine" == record["action"]
    restricted = [f for f in record["findings"] if f["kind"] == "restricted_recipient"]
    assert ["envelope"] == [f["location"] for f in restricted]


# --- default policy --------------------------------------------------------------------


def test_restricted_contact_receiving_the_protected_address_is_quarantined(
    scan: Scan, write_mail: WriteMail
) -> None:
    """Mark Whitmore getting Sarah's safe address is held by the restricted-recipient rule."""
    record = scan(write_mail(to=[MARK], body=f"Sarah has moved to {SAFE_ADDRESS}."))
    assert "quarantine" == record["action"]
    assert {("restricted_recipient", DA_CASE), ("address", DA_CASE)} <= kinds_and_cases(record)
    assert RESTRICTED_RULE in record["rules"]


def test_restricted_contact_receiving_unrelated_content_is_delivered(
    scan: Scan, write_mail: WriteMail
) -> None:
    """Mail to a restricted contact about other matters goes through."""
    record = scan(write_mail(to=[MARK], body="Your court date is 3 March at 10am."))
    assert "deliver" == record["action"]
    assert [] == record["rules"]


def test_restricted_contact_receiving_only_the_postcode_is_quarantined(
    scan: Scan, write_mail: WriteMail
) -> None:
    """The postcode alone is enough to hold mail to a restricted contact."""
    record = scan(write_mail(to=[MARK], body="The school is somewhere near LS6 3QT."))
    assert "quarantine" == record["action"]
    assert RESTRICTED_RULE in record["rules"]


def test_restricted_contact_receiving_the_protected_name_is_quarantined(
    scan: Scan, write_mail: WriteMail
) -> None:
    """The protected person's name without the middle name reaches the restricted rule."""
    record = scan(write_mail(to=[MARK], body="I spoke to Sarah Whitmore yesterday."))
    assert "quarantine" == record["action"]
    assert RESTRICTED_RULE in record["rules"]


def test_clares_law_applicant_name_to_the_restricted_contact_is_quarantined(
    scan: Scan, write_mail: WriteMail
) -> None:
    """Daniel Cole getting the applicant Priya Raman's name is held."""
    record = scan(write_mail(to=[DAN], body="The request was made by Priya Raman."))
    assert "quarantine" == record["action"]
    assert {("restricted_recipient", CL_CASE), ("name", CL_CASE)} <= kinds_and_cases(record)


def test_external_recipient_receiving_the_full_address_is_quarantined(
    scan: Scan, write_mail: WriteMail
) -> None:
    """The full safe address going to an outsider is held by the external rule."""
    record = scan(write_mail(to=[LANDLORD], body=f"Please send the keys to {SAFE_ADDRESS}."))
    assert "quarantine" == record["action"]
    assert EXTERNAL_RULE in record["rules"]
    assert ("address", DA_CASE) in kinds_and_cases(record)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("The office covering LS6 3QT is open on Mondays.", id="postcode"),
        pytest.param("Sarah Whitmore called about the repair.", id="name"),
        pytest.param("Date of birth: 17/04/1988.", id="date-of-birth"),
    ],
)
def test_external_recipient_receiving_a_lone_weak_detail_is_delivered(
    scan: Scan, write_mail: WriteMail, body: str
) -> None:
    """A postcode, a name or a date of birth alone does not hold mail to an outsider."""
    record = scan(write_mail(to=[LANDLORD], body=body))
    assert "deliver" == record["action"]


def test_allowed_recipient_receiving_the_address_is_delivered(
    scan: Scan, write_mail: WriteMail
) -> None:
    """The case's caseworker may receive the safe address."""
    record = scan(write_mail(to=[CASEWORKER], body=f"Sarah is now at {SAFE_ADDRESS}."))
    assert "deliver" == record["action"]


def test_protected_location_to_an_external_recipient_is_quarantined(
    scan: Scan, write_mail: WriteMail
) -> None:
    """The refuge's address leaving the organisation is held, with the location id as case."""
    record = scan(write_mail(to=[LANDLORD], body=f"Deliver the boxes to {REFUGE_ADDRESS}."))
    assert "quarantine" == record["action"]
    assert ("protected_location", "refuge-north") in kinds_and_cases(record)


def test_restricted_address_with_other_case_and_plus_tag_is_still_restricted(
    scan: Scan, write_mail: WriteMail
) -> None:
    """``Mark.Whitmore+x@Example.COM`` is the restricted contact."""
    record = scan(write_mail(to=["Mark.Whitmore+x@Example.COM"], body="Near LS6 3QT."))
    assert ("restricted_recipient", DA_CASE) in kinds_and_cases(record)
    assert "quarantine" == record["action"]


def test_restricted_name_with_another_address_is_a_probable_restricted_recipient(
    scan: Scan, write_mail: WriteMail
) -> None:
    """``"Mark Whitmore" <other address>`` plus the safe address is held as probably him."""
    message = write_mail(
        to=['"Mark Whitmore" <m.w.1979@mailbox.example>'],
        body=f"Sarah has moved to {SAFE_ADDRESS}.",
    )
    record = scan(message)
    assert "quarantine" == record["action"]
    assert ("probable_restricted_recipient", DA_CASE) in kinds_and_cases(record)
    assert RESTRICTED_RULE in record["rules"]


def test_near_identical_address_is_a_probable_restricted_recipient(
    scan: Scan, write_mail: WriteMail
) -> None:
    """``mark.whitmore@examp1e.com`` (digit one for letter l) is probably him."""
    record = scan(
        write_mail(to=["mark.whitmore@examp1e.com"], body=f"Sarah has moved to {SAFE_ADDRESS}.")
    )
    assert "quarantine" == record["action"]
    assert ("probable_restricted_recipient", DA_CASE) in kinds_and_cases(record)
    assert RESTRICTED_RULE in record["rules"]


# --- the real entry point --------------------------------------------------------------


def run_process(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command with a timeout, capturing text output."""
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_script() -> Path:
    """The ``gateway`` script installed next to the running interpreter."""
    script = Path(sys.executable).with_name("gateway")
    assert script.is_file(), f"console script missing: {script}"
    return script


def test_module_entry_point_runs_a_scan(
    register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """``python -m gateway.cli scan`` works like the console script."""
    write_mail("leak.eml", body=f"She is at {SAFE_ADDRESS}.")
    done = run_process(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "scan",
            "--register",
            str(register),
            "--json",
            "leak.eml",
        ],
        cwd=tmp_path,
    )
    assert 0 == done.returncode, done.stderr
    assert "quarantine" == json.loads(done.stdout)["action"]


def test_console_script_scans_from_any_directory_and_exits_zero(
    register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """The ``gateway`` script finds the shipped policy outside the repo and exits 0."""
    write_mail("leak.eml", body=f"She is at {SAFE_ADDRESS}.")
    done = run_process(
        [str(console_script()), "scan", "--register", str(register), "--json", "leak.eml"],
        cwd=tmp_path,
    )
    assert 0 == done.returncode, done.stderr
    record = json.loads(done.stdout)
    assert "leak.eml" == record["file"]
    assert "quarantine" == record["action"]


def test_console_script_exits_one_for_a_missing_file(
    register: Path, write_mail: WriteMail, tmp_path: Path
) -> None:
    """A real process exits 1 when an input cannot be read, after scanning the rest."""
    write_mail("ok.eml")
    done = run_process(
        [
            str(console_script()),
            "scan",
            "--register",
            str(register),
            "--json",
            "ok.eml",
            "gone.eml",
        ],
        cwd=tmp_path,
    )
    assert 1 == done.returncode, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert ["ok.eml", "gone.eml"] == [r["file"] for r in records]
    assert "deliver" == records[0]["action"]
    assert "error" in records[1]


def test_console_script_exits_two_for_a_usage_error(register: Path, tmp_path: Path) -> None:
    """The installed ``gateway`` script exits 2 when given nothing to scan."""
    done = run_process([str(console_script()), "scan", "--register", str(register)], cwd=tmp_path)
    assert 2 == done.returncode
    assert "" == done.stdout
    assert done.stderr.strip()
