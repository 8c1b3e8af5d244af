"""Diffing two registers: per id added, removed, changed (field names only), and totals."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.register import Register, load_register
from gateway.register.diff import (
    Changed,
    canonical,
    diff_canonical,
    diff_registers,
    read_canonical,
    shrink_refusal,
    summary_lines,
)

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
EXAMPLE = SHARED / "contracts" / "register.example.yaml"
BASE = load_register(EXAMPLE).model_dump(mode="json")


def _values(data: Any) -> list[str]:
    """Every string value in a register's data except ids, labels and the version."""
    if isinstance(data, dict):
        return [v for k, item in data.items() if k not in ("id", "label") for v in _values(item)]
    if isinstance(data, list):
        return [v for item in data for v in _values(item)]
    return [data] if isinstance(data, str) else []


def _register(data: dict[str, Any]) -> Register:
    return Register.model_validate(data)


def _edited(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def test_the_same_register_in_another_order_is_no_change() -> None:
    """Cases, people and addresses in another order protect the same: an empty diff."""
    data = copy.deepcopy(BASE)
    data["cases"].reverse()
    data["cases"][1]["protected"].reverse()
    data["cases"][0]["restricted"][0]["emails"].reverse()
    diff = diff_registers(_register(BASE), _register(data))
    assert (True, 0.0) == (diff.empty, diff.shrink)
    assert 2 == diff.cases.unchanged


def test_added_removed_and_changed_cases_are_named_with_their_fields() -> None:
    """A new case, a dropped case and a changed email list are reported by id and field."""
    data = copy.deepcopy(BASE)
    dropped = data["cases"].pop(1)
    data["cases"][0]["restricted"][0]["emails"].append("lettings@landlord.example")
    data["cases"][0]["allowed_recipients"] = []
    data["cases"].append({"id": "NEW-1", "protected": [{"name": "Ann Other"}]})
    diff = diff_registers(_register(BASE), _register(data))
    assert ("NEW-1",) == diff.cases.added
    assert (dropped["id"],) == diff.cases.removed
    expected = Changed("DA-2025-0142", ("restricted[0].emails", "allowed_recipients"))
    assert (expected,) == diff.cases.changed
    assert (2, 2, 0) == (diff.cases.before, diff.cases.after, diff.cases.unchanged)
    assert "1 added, 1 removed, 1 changed; 2 cases, 1 protected locations" == diff.counts()


def test_a_case_whose_dates_alone_changed_is_changed() -> None:
    """An export that only moves a case's validity dates is a change, named by field."""
    data = copy.deepcopy(BASE)
    data["cases"][0]["valid_from"] = "2025-01-31"
    diff = diff_registers(_register(BASE), _register(data))
    assert (Changed("DA-2025-0142", ("valid_from",)),) == diff.cases.changed
    assert (Changed("DA-2025-0142", ("valid_from",)),) == diff_canonical(
        read_canonical(canonical(_register(BASE))), _register(data)
    ).cases.changed


def test_people_added_or_removed_are_counted_and_a_changed_one_is_located() -> None:
    """A second restricted contact is `restricted (+1)`; a person's new phone is located
    at their index in the new list."""
    data = copy.deepcopy(BASE)
    case = data["cases"][0]
    case["restricted"].append({"name": "Another Person"})
    case["protected"].reverse()
    case["protected"][1]["phones"].append("07700 900999")
    diff = diff_registers(_register(BASE), _register(data))
    assert (Changed("DA-2025-0142", ("protected[1].phones", "restricted (+1)")),) == (
        diff.cases.changed
    )
    back = diff_registers(_register(data), _register(BASE))
    assert "restricted (-1)" in back.cases.changed[0].fields


def test_protected_locations_are_diffed_by_id_too() -> None:
    """A refuge's new address is a changed location; a new refuge is an added one."""
    data = copy.deepcopy(BASE)
    data["protected_locations"][0]["address"] = "14 Example Street, Sheffield, S1 2AB"
    data["protected_locations"].append({"id": "refuge-south", "address": "1 A Road, Bath"})
    diff = diff_registers(_register(BASE), _register(data))
    assert (("refuge-south",), (Changed("refuge-north", ("address",)),)) == (
        diff.locations.added,
        diff.locations.changed,
    )
    assert diff.cases.added == diff.cases.removed == diff.cases.changed == ()


def test_the_summary_prints_ids_fields_and_totals_but_no_value() -> None:
    """Each line names an id and field names; no name, address, phone or email appears."""
    data = copy.deepcopy(BASE)
    data["cases"][0]["protected"][0]["addresses"] = ["2 Other Road, Leeds, LS6 3QT"]
    data["cases"].pop(1)
    lines = summary_lines(diff_registers(_register(BASE), _register(data)))
    assert "  removed  CL-2025-0007" in lines
    assert "  changed  DA-2025-0142: protected[0].addresses" in lines
    assert "cases: 0 added, 1 removed, 1 changed, 0 unchanged (2 -> 1)" in lines
    text = "\n".join(lines)
    for value in _values(BASE) + _values(data):
        assert value not in text, value


def test_the_summary_lists_at_most_limit_ids_of_each_kind() -> None:
    """Past ``limit`` entries of one kind the rest are counted, not listed."""
    data = _edited(cases=[{"id": f"C{n}", "protected": [{"name": "A B"}]} for n in range(5)])
    lines = summary_lines(diff_registers(None, _register(data)), limit=2)
    assert ["  added    C0", "  added    C1", "  ... and 3 more added"] == lines[:3]


def test_a_first_import_adds_everything_and_shrinks_nothing() -> None:
    """Against no register at all, every case is added and nothing counts as removed."""
    diff = diff_registers(None, _register(BASE))
    assert (("DA-2025-0142", "CL-2025-0007"), 0.0) == (diff.cases.added, diff.shrink)
    assert None is shrink_refusal(diff, 0.0)


def test_the_shrink_guard_counts_cases_and_locations_apart() -> None:
    """Dropping one of two cases is 50%; dropping the only refuge is 100% of the
    locations, however many cases there are; the refusal gives counts only."""
    one_case = _edited(cases=BASE["cases"][:1])
    diff = diff_registers(_register(BASE), _register(one_case))
    assert 0.5 == diff.shrink
    refusal = shrink_refusal(diff, 0.05)
    assert refusal is not None
    assert "remove 1 of 2 cases (50%)" in refusal
    assert None is shrink_refusal(diff, 0.5)
    no_refuge = _edited(protected_locations=[])
    refusal = shrink_refusal(diff_registers(_register(BASE), _register(no_refuge)), 0.05)
    assert refusal is not None
    assert "remove 1 of 1 protected locations (100%)" in refusal


_IDS = st.lists(st.sampled_from([f"C{n}" for n in range(12)]), unique=True, max_size=12)
_NAMES = st.sampled_from(["Ann Bell", "Cy Dane", "Eve Ford", "Gil Hart"])


@st.composite
def _registers(draw: st.DrawFn) -> Register:
    cases = [
        {
            "id": ident,
            "protected": [{"name": draw(_NAMES)}],
            "restricted": [{"name": draw(_NAMES)} for _ in range(draw(st.integers(0, 2)))],
        }
        for ident in draw(_IDS)
    ]
    return _register({"version": 1, "cases": cases})


@settings(max_examples=150, deadline=None)
@given(_registers(), _registers())
def test_a_diff_accounts_for_every_id_both_ways(old: Register, new: Register) -> None:
    """Added and removed are the ids on one side only, changed ones are on both sides and
    really differ, the totals add up, the reverse diff swaps added and removed, and the
    diff against the stored canonical form is the same."""
    diff = diff_registers(old, new)
    before, after = {c.id for c in old.cases}, {c.id for c in new.cases}
    assert (after - before, before - after) == (set(diff.cases.added), set(diff.cases.removed))
    old_cases = {c.id: c for c in old.cases}
    for change in diff.cases.changed:
        assert change.fields
        assert old_cases[change.id] != next(c for c in new.cases if c.id == change.id)
    assert len(after) == len(diff.cases.added) + len(diff.cases.changed) + diff.cases.unchanged
    back = diff_registers(new, old)
    assert (set(diff.cases.added), set(diff.cases.removed)) == (
        set(back.cases.removed),
        set(back.cases.added),
    )
    assert diff_registers(new, new).empty
    assert diff == diff_canonical(read_canonical(canonical(old)), new)
    assert diff.empty == ({c.id for c in diff.cases.changed} == set() and before == after)


def test_the_canonical_form_diffs_as_the_register_does() -> None:
    """Against the canonical form of the example, a changed email list, a dropped case
    and a changed refuge are found as against the register itself."""
    data = copy.deepcopy(BASE)
    data["cases"][0]["restricted"][0]["emails"].reverse()  # order only: no change
    data["cases"][0]["allowed_recipients"].append("duty@council.example.gov.uk")
    data["cases"].pop(1)
    data["protected_locations"][0]["label"] = "Refuge (north, new)"
    old, new = _register(BASE), _register(data)
    stored = read_canonical(canonical(old))
    assert (["DA-2025-0142", "CL-2025-0007"], ["refuge-north"]) == (
        list(stored.cases),
        list(stored.locations),
    )
    diff = diff_canonical(stored, new)
    assert diff == diff_registers(old, new)
    assert (Changed("DA-2025-0142", ("allowed_recipients",)),) == diff.cases.changed
    assert (Changed("refuge-north", ("label",)),) == diff.locations.changed
    assert diff_canonical(None, new) == diff_registers(None, new)
