"""The hostile corpus (tests/corpus/hostile), scanned in full through ``gateway scan``.

Each message reproduces a way a protected detail was carried past the scan, or is the
benign twin of one; its sidecar JSON says what the verdict must be.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "hostile"
INTERNAL = "council.example.gov.uk"


def _cases() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.stem, json.loads(path.read_text()))
        for path in sorted(CORPUS.glob("*.json"))
        if (CORPUS / f"{path.stem}.eml").exists()
    ]


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every corpus message scanned once, in one ``gateway scan --manifest`` run."""
    folder = tmp_path_factory.mktemp("hostile")
    manifest = folder / "manifest.jsonl"
    lines = [
        json.dumps(
            {
                "file": str(CORPUS / f"{stem}.eml"),
                "mail_from": spec.get("mail_from", f"officer@{INTERNAL}"),
                "rcpt": spec["rcpt"],
            }
        )
        for stem, spec in _cases()
    ]
    manifest.write_text("\n".join(lines) + "\n")
    out = folder / "out.jsonl"
    with pytest.MonkeyPatch.context() as patch, out.open("w") as sink:
        patch.setattr("sys.stdout", sink)
        status = main(
            [
                "scan",
                "--register",
                str(CORPUS / "register.yaml"),
                "--internal-domain",
                INTERNAL,
                "--json",
                "--manifest",
                str(manifest),
            ]
        )
    assert 0 == status
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return {Path(r["file"]).stem: r for r in records}


def test_the_corpus_has_both_leaks_and_benign_twins() -> None:
    """The corpus is there and holds messages of both verdicts."""
    expected = {spec["expected"] for _, spec in _cases()}
    assert {"quarantine", "deliver"} == expected


@pytest.mark.parametrize(("stem", "spec"), _cases(), ids=[stem for stem, _ in _cases()])
def test_each_hostile_message_gets_its_verdict(
    verdicts: dict[str, dict[str, Any]], stem: str, spec: dict[str, Any]
) -> None:
    """The verdict (and the finding kinds named) are those the sidecar states."""
    record = verdicts[stem]
    assert spec["expected"] == record["action"], spec["why"]
    kinds = {f["kind"] for f in record["findings"]}
    assert set(spec.get("kinds", ())) <= kinds, spec["why"]
