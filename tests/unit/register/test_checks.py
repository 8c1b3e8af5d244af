"""Warnings about a register that loads: each class fires on its case, and not on a
clean twin of it; no warning holds a value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.register import Register, load_register
from gateway.register.checks import check_register

CONTRACT = Path(__file__).resolve().parents[3].parent / "shared" / "contracts"
EXAMPLE = CONTRACT / "register.example.yaml"

CASE: dict[str, Any] = {
    "id": "DA-1",
    "protected": [
        {
            "name": "Sarah Whitmore",
            "date_of_birth": "1988-04-17",
            "addresses": ["27 Kingfisher Road, Leeds, LS6 3QT"],
            "phones": ["07700 900461"],
            "emails": ["sarah.w@example.net"],
        }
    ],
    "restricted": [{"name": "Mark Whitmore", "emails": ["mark.whitmore@example.com"]}],
    "allowed_recipients": ["caseworker@council.example.gov.uk"],
}
VALUES = ["Sarah", "Whitmore", "Kingfisher", "LS6", "07700", "1988", "example.net", "mark."]


def _register(change: Callable[[dict[str, Any]], None] = lambda case: None) -> Register:
    case = copy.deepcopy(CASE)
    change(case)
    return Register.model_validate({"version": 1, "cases": [case]})


def _no_restricted(case: dict[str, Any]) -> None:
    case["restricted"] = []


def _nothing(case: dict[str, Any]) -> None:
    case["restricted"] = []
    case["protected"] = [{"name": "Sarah Whitmore", "date_of_birth": "1988-04-17"}]


def _only_a_phone(case: dict[str, Any]) -> None:  # the clean twin of _nothing
    case["restricted"] = []
    case["protected"] = [{"name": "Sarah Whitmore", "phones": ["07700 900461"]}]


def _restricted_allowed(case: dict[str, Any]) -> None:
    case["allowed_recipients"].append("Mark.Whitmore+post@Example.com")


def _no_postcode(case: dict[str, Any]) -> None:
    case["protected"][0]["addresses"].append("Flat 2, 9 Mill Lane, York")


@pytest.mark.parametrize(
    ("change", "kind", "loc", "field"),
    [
        (_no_restricted, "no-restricted-contact", ("cases", 0), "restricted"),
        (_nothing, "protects-nothing", ("cases", 0), "protected"),
        (
            _restricted_allowed,
            "restricted-allowed",
            ("cases", 0, "allowed_recipients", 1),
            "allowed_recipients[1]",
        ),
        (
            _no_postcode,
            "no-postcode",
            ("cases", 0, "protected", 0, "addresses", 1),
            "protected[0].addresses[1]",
        ),
    ],
)
def test_each_warning_fires_on_its_case_only(
    change: Callable[[dict[str, Any]], None], kind: str, loc: tuple[Any, ...], field: str
) -> None:
    """The changed case gets exactly its one warning, naming the case, field and path."""
    (concern,) = check_register(_register(change))
    assert (kind, loc, "DA-1", field) == (concern.kind, concern.loc, concern.case, concern.field)
    assert not any(value in concern.text for value in VALUES)


@pytest.mark.parametrize(
    "change", [lambda case: None, _only_a_phone], ids=["the clean case", "a phone to protect"]
)
def test_a_clean_twin_has_no_warning(change: Callable[[dict[str, Any]], None]) -> None:
    """The same case with a restricted contact (or with a detail that outside mail can
    carry) is not warned about as protecting nothing."""
    kinds = [c.kind for c in check_register(_register(change))]
    assert "protects-nothing" not in kinds
    assert [] == [k for k in kinds if k != "no-restricted-contact"]


def test_the_contract_example_has_no_warnings() -> None:
    """The shared example register is the model of a clean register."""
    assert [] == check_register(load_register(EXAMPLE))


def test_a_protected_location_without_a_postcode_is_warned_about() -> None:
    """A refuge address without a postcode gets the same warning as a person's."""
    register = Register.model_validate(
        {
            "version": 1,
            "protected_locations": [
                {"id": "refuge-1", "address": "12 Example Street, Sheffield"},
                {"id": "refuge-2", "address": "14 Example Street, Sheffield, S1 2AB"},
            ],
        }
    )
    (concern,) = check_register(register)
    assert ("no-postcode", ("protected_locations", 0, "address")) == (concern.kind, concern.loc)
    assert "refuge-1" == concern.case
