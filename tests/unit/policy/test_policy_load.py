"""Loading policy folders and files: layering, and errors reported at file:line."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import PolicyError
from gateway.findings import Confidence, Finding, Kind, Recipient
from gateway.policy import decide, default_policy_dir, load_policy
from gateway.policy.model import Mode
from gateway.verdict import Action, Severity

RULE = """\
rules:
  - id: hold-address
    when:
      recipient: [external]
      findings: [address]
    action: quarantine
    severity: high
"""

ADDRESS = Finding(Kind.ADDRESS, "DA-1", "body", Confidence.HIGH, 95)
OUTSIDER = Recipient("someone@elsewhere.example")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def layered(tmp_path: Path, local: str | None = None, override: str | None = None) -> Path:
    write(tmp_path / "default" / "10-rules.yaml", RULE)
    if local is not None:
        write(tmp_path / "local.d" / "site.yaml", local)
    if override is not None:
        write(tmp_path / "override.d" / "site.yaml", override)
    return tmp_path


def error_of(path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return info.value


def test_shipped_policies_folder_loads() -> None:
    """The repository's policies/ folder loads, ignoring README.md and the .sample file."""
    policy = load_policy(default_policy_dir())
    assert all("/default/" in source for source in policy.sources)
    assert 6 == len(policy.active)


def test_default_policy_dir_is_the_top_level_policies_folder() -> None:
    """The shipped policies are found next to the package, from any working directory."""
    expected = Path(__file__).resolve().parents[3] / "policies"
    assert expected == default_policy_dir()


def test_single_file_loads(tmp_path: Path) -> None:
    """A path to one YAML file is a policy of that file's rules."""
    policy = load_policy(write(tmp_path / "one.yaml", RULE))
    assert ["hold-address"] == [r.id for r in policy.rules]


def test_plain_folder_loads_yaml_and_yml_in_name_order(tmp_path: Path) -> None:
    """A folder without default/ loads every *.yaml and *.yml, sorted by name."""
    write(tmp_path / "b.yml", RULE.replace("hold-address", "second"))
    write(tmp_path / "a.yaml", RULE.replace("hold-address", "first"))
    write(tmp_path / "notes.txt", "not a policy")
    assert ["first", "second"] == [r.id for r in load_policy(tmp_path).rules]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    """A folder with no policy file fails rather than delivering everything unchecked."""
    assert (str(tmp_path), None) == (error_of(tmp_path).file, error_of(tmp_path).line)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    """A policy path that does not exist is a PolicyError naming it."""
    assert str(tmp_path / "nope") == error_of(tmp_path / "nope").file


def test_local_rule_disables_a_default_rule(tmp_path: Path) -> None:
    """enabled: false in local.d switches the shipped rule off, so the mail is delivered."""
    policy = load_policy(layered(tmp_path, "rules:\n  - id: hold-address\n    enabled: false\n"))
    assert ((), Action.DELIVER) == (policy.active, decide(policy, [ADDRESS], [OUTSIDER]).action)


def test_all_rules_disabled_is_a_valid_policy(tmp_path: Path) -> None:
    """A policy with zero enabled rules loads, and keeps the disabled rule listed."""
    policy = load_policy(layered(tmp_path, "rules:\n  - id: hold-address\n    enabled: false\n"))
    assert ["hold-address"] == [r.id for r in policy.rules]


def test_local_rule_switches_a_default_rule_to_monitor(tmp_path: Path) -> None:
    """mode: monitor in local.d keeps the rule's other fields and only records its hits."""
    policy = load_policy(layered(tmp_path, "rules:\n  - id: hold-address\n    mode: monitor\n"))
    rule = policy.active[0]
    verdict = decide(policy, [ADDRESS], [OUTSIDER])
    assert (Mode.MONITOR, Action.QUARANTINE, Action.DELIVER) == (
        rule.mode,
        rule.action,
        verdict.action,
    )
    assert (["hold-address"], True) == ([h.rule for h in verdict.hits], verdict.hits[0].monitor)


def test_local_rule_with_a_new_id_is_added_after_the_defaults(tmp_path: Path) -> None:
    """A new id in local.d is a new rule, evaluated after the shipped ones."""
    local = RULE.replace("hold-address", "site-reject").replace("quarantine", "reject")
    policy = load_policy(layered(tmp_path, local))
    verdict = decide(policy, [ADDRESS], [OUTSIDER])
    assert (["hold-address", "site-reject"], Action.REJECT) == (
        [r.id for r in policy.active],
        verdict.action,
    )


def test_local_rule_replaces_when_as_a_whole(tmp_path: Path) -> None:
    """A local when block replaces the shipped one: the merge is shallow."""
    local = "rules:\n  - id: hold-address\n    when:\n      findings: [phone]\n"
    rule = load_policy(layered(tmp_path, local)).active[0]
    assert ((Kind.PHONE,), ("any",), Severity.HIGH) == (
        rule.when.findings,
        rule.when.recipient,
        rule.severity,
    )


def test_override_replaces_a_default_rule_entirely(tmp_path: Path) -> None:
    """A rule in override.d replaces the shipped rule of that id, fields and all."""
    override = "rules:\n  - id: hold-address\n    action: tempfail\n    severity: low\n"
    rule = load_policy(layered(tmp_path, override=override)).active[0]
    assert (Action.TEMPFAIL, None) == (rule.action, rule.when.findings)


def test_override_wins_over_local(tmp_path: Path) -> None:
    """override.d is applied after local.d."""
    local = "rules:\n  - id: hold-address\n    enabled: false\n"
    override = "rules:\n  - id: hold-address\n    action: tempfail\n    severity: low\n"
    policy = load_policy(layered(tmp_path, local, override))
    assert [Action.TEMPFAIL] == [r.action for r in policy.active]


def test_unknown_field_reports_its_line(tmp_path: Path) -> None:
    """A misspelt field is reported at the line where it is written."""
    path = write(tmp_path / "p.yaml", RULE.replace("    action:", "    actoin: x\n    action:"))
    err = error_of(path)
    assert (str(path), 6) == (err.file, err.line)
    assert "unknown field 'actoin'" in err.reason


def test_unknown_nested_field_reports_its_line(tmp_path: Path) -> None:
    """A misspelt condition inside when is reported at its own line."""
    path = write(tmp_path / "p.yaml", RULE.replace("      findings:", "      finding:"))
    err = error_of(path)
    assert (5, True) == (err.line, "unknown field 'when.finding'" in err.reason)


def test_bad_action_reports_its_line_and_the_choices(tmp_path: Path) -> None:
    """An action outside the four is reported at its line, naming the choices."""
    path = write(tmp_path / "p.yaml", RULE.replace("action: quarantine", "action: bounce"))
    err = error_of(path)
    assert (6, True, True) == (err.line, "'bounce'" in err.reason, "'tempfail'" in err.reason)


def test_unknown_finding_kind_reports_its_line(tmp_path: Path) -> None:
    """A finding kind the matcher does not produce is refused at its line."""
    path = write(
        tmp_path / "p.yaml", RULE.replace("findings: [address]", "findings:\n        - adress")
    )
    err = error_of(path)
    assert (6, True) == (err.line, "unknown finding kind 'adress'" in err.reason)


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    """YAML that does not parse is reported with the line of the problem."""
    path = write(tmp_path / "p.yaml", "rules:\n  - id: x\n    when: [unclosed\n    action: y\n")
    err = error_of(path)
    assert (str(path), True) == (err.file, err.line is not None and err.line >= 3)


def test_yaml_tags_are_refused(tmp_path: Path) -> None:
    """Python object tags are not constructed: only safe YAML is read."""
    path = write(tmp_path / "p.yaml", "rules: !!python/object/apply:os.system ['true']\n")
    assert str(path) == error_of(path).file


def test_duplicate_id_in_defaults_is_an_error(tmp_path: Path) -> None:
    """Two shipped rules with one id are refused, pointing at the second one."""
    write(tmp_path / "default" / "10-a.yaml", RULE)
    second = write(tmp_path / "default" / "20-b.yaml", RULE)
    err = error_of(tmp_path)
    assert (str(second), 2, True) == (err.file, err.line, "duplicate rule id" in err.reason)


def test_error_in_local_patch_names_the_local_file(tmp_path: Path) -> None:
    """A bad value merged from local.d is reported in local.d, not in the default file."""
    root = layered(tmp_path, "rules:\n  - id: hold-address\n    severity: dire\n")
    err = error_of(root)
    assert (str(root / "local.d" / "site.yaml"), 3) == (err.file, err.line)


def test_new_local_rule_without_action_is_an_error(tmp_path: Path) -> None:
    """A new rule in local.d must be complete."""
    err = error_of(layered(tmp_path, "rules:\n  - id: site-new\n    severity: low\n"))
    assert "missing field 'action'" in err.reason


def test_rule_without_id_is_an_error(tmp_path: Path) -> None:
    """Every rule needs an id so that sites can refer to it."""
    err = error_of(write(tmp_path / "p.yaml", "rules:\n  - action: reject\n    severity: low\n"))
    assert (2, True) == (err.line, "'id'" in err.reason)


def test_same_case_without_findings_is_an_error(tmp_path: Path) -> None:
    """A condition that cannot mean anything is refused at the rule's when block."""
    text = (
        "rules:\n  - id: x\n    when:\n      same_case: true\n"
        "    action: reject\n    severity: low\n"
    )
    err = error_of(write(tmp_path / "p.yaml", text))
    assert (3, True) == (err.line, "same_case needs findings" in err.reason)


def test_top_level_must_be_a_rules_mapping(tmp_path: Path) -> None:
    """A file that is a bare list is refused at line 1."""
    err = error_of(write(tmp_path / "p.yaml", "- id: x\n"))
    assert (1, True) == (err.line, "'rules'" in err.reason)


def test_empty_file_has_no_rules(tmp_path: Path) -> None:
    """An empty YAML file contributes no rules and is not an error."""
    assert () == load_policy(write(tmp_path / "p.yaml", "# nothing yet\n")).rules


def test_unknown_block_field_reports_the_key_line(tmp_path: Path) -> None:
    """A misspelt field holding a block is reported at its key, not at its first child."""
    text = RULE.replace("    when:\n", "    whn:\n")
    err = error_of(write(tmp_path / "p.yaml", text))
    assert (3, True) == (err.line, "unknown field 'whn'" in err.reason)
