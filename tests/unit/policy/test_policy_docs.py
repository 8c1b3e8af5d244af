"""The rule format documented in policies/local.d/README.md: every example there is a
valid site change on top of the shipped rules, and every field and value its tables
name is one the loader accepts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gateway.findings import Confidence, Kind
from gateway.policy import default_policy_dir, load_policy
from gateway.policy.model import Mode, RecipientClass, ReleaseMode, Rule, When
from gateway.verdict import Action, Severity

README = default_policy_dir() / "local.d" / "README.md"
TEXT = README.read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```yaml\n(.*?)```", TEXT, re.DOTALL)


def test_the_readme_has_examples() -> None:
    """The examples below are really read from the file."""
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: re.search(r"id: (\S+)", e)[1])
def test_each_example_loads_as_a_site_change(example: str, tmp_path: Path) -> None:
    """Copied into local.d/ beside the shipped rules, the example loads, and the rule
    it names is in the policy with the fields it gives."""
    folder = tmp_path / "policies"
    shutil.copytree(default_policy_dir() / "default", folder / "default")
    (folder / "local.d").mkdir()
    (folder / "local.d" / "site.yaml").write_text(example, encoding="utf-8")
    policy = load_policy(folder)
    rule_id = re.search(r"id: (\S+)", example)[1]  # type: ignore[index]
    assert [rule_id] == [rule.id for rule in policy.rules if rule.id == rule_id]


def _column(table_row: str) -> list[str]:
    """The back-quoted values in the "values" cell of a table row."""
    return re.findall(r"`([a-z_]+)`", table_row.split("|")[2])


def test_every_value_the_tables_name_is_accepted() -> None:
    """Actions, severities, modes, release modes, confidences, recipient classes and
    finding kinds named in the README are exactly those of the loader."""
    rows = {line.split("|")[1].strip(" `"): line for line in TEXT.splitlines() if "|" in line}
    assert {a.value for a in Action} == set(_column(rows["action"]))
    assert {s.value for s in Severity} - {"none"} == set(_column(rows["severity"]))
    assert {m.value for m in Mode} == set(_column(rows["mode"]))
    assert {r.value for r in ReleaseMode} == set(_column(rows["release"]))
    assert {c.value for c in Confidence} == set(_column(rows["min_confidence"]))
    classes = {line.split("|")[1].strip(" `") for line in TEXT.splitlines() if "| `" in line}
    assert {c.value for c in RecipientClass} <= classes
    kinds = set(re.findall(r"`([a-z_]+)`", TEXT.split("Finding kinds:")[1].split("\n\n")[0]))
    assert {k.value for k in Kind} == kinds


def test_every_field_the_tables_name_is_a_rule_or_condition_field() -> None:
    """The field columns list the model's fields, no more and no fewer."""
    named = {
        line.split("|")[1].strip(" `")
        for line in TEXT.split("## Rule format")[1].splitlines()
        if line.startswith("| `")
    }
    fields = set(Rule.model_fields) | set(When.model_fields)
    assert fields <= named
