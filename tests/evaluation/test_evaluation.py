"""The labelled evaluation set, scanned through ``gateway scan`` as the outside suite does.

``generate.py`` writes ~200 invented cases and ~3,300 labelled messages (leaks in every
form and carrier, near misses, benign mail, real business mail); the targets are the
product's: recall >= 99% on leaks, false positives <= 0.5% on benign mail.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from gateway.cli import main
from tests.evaluation import generate


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], str]]:
    folder = tmp_path_factory.mktemp("evaluation")
    generate.main([str(folder)])
    manifest = folder / "manifest.jsonl"
    labels = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    out = folder / "out.jsonl"
    with pytest.MonkeyPatch.context() as patch, out.open("w") as sink:
        patch.setattr("sys.stdout", sink)
        status = main(
            [
                "scan",
                "--register",
                str(folder / "register.yaml"),
                "--internal-domain",
                "council.example.gov.uk",
                "--json",
                "--manifest",
                str(manifest),
            ]
        )
    assert 0 == status
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [label["file"] for label in labels] == [r["file"] for r in records]
    return [(label, record["action"]) for label, record in zip(labels, records, strict=True)]


def _rate(pairs: list[tuple[dict[str, Any], str]], expected: str) -> tuple[float, Counter[str]]:
    chosen = [(label, action) for label, action in pairs if label["expected"] == expected]
    wrong = Counter(label["form"] for label, action in chosen if action != expected)
    return sum(wrong.values()) / len(chosen), wrong


def test_recall_on_leaks_is_at_least_99_percent(outcome: list[tuple[dict[str, Any], str]]) -> None:
    """At most 1% of the leaks (every form, carrier and recipient kind) are delivered."""
    missed, forms = _rate(outcome, "quarantine")
    assert missed <= 0.01, f"missed {missed:.2%}: {forms.most_common(10)}"


def test_false_positives_on_benign_mail_are_at_most_half_a_percent(
    outcome: list[tuple[dict[str, Any], str]],
) -> None:
    """At most 0.5% of benign messages (near misses and real mail included) are held."""
    held, forms = _rate(outcome, "deliver")
    assert held <= 0.005, f"held {held:.2%}: {forms.most_common(10)}"


def test_the_set_covers_every_kind_of_detail(outcome: list[tuple[dict[str, Any], str]]) -> None:
    """The generated set is broad enough to mean something."""
    kinds = {label["form"].split("/")[0] for label, _ in outcome}
    assert {"address", "phone", "email", "name", "dob", "postcode", "location"} <= kinds
    assert 1000 <= sum(label["expected"] == "quarantine" for label, _ in outcome)
