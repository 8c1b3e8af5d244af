"""The shared corpora: real business mail is not held, odd MIME does not crash the scan."""

# STYLE.md asks for `expected == actual`, which ruff reads as a Yoda condition.

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .support import CORPUS, REGISTER, CliRun

Gateway = Callable[..., CliRun]

HAM = CORPUS / "ham"
MIME_EDGE = CORPUS / "mime-edge"
HELD = {"quarantine", "reject"}

pytestmark = pytest.mark.slow


def eml_names(folder: Path) -> list[str]:
    """The sorted *.eml file names of ``folder``, as a folder PATH scans them."""
    return sorted(p.name for p in folder.glob("*.eml"))


def test_ham_corpus_is_all_there() -> None:
    """The false-positive corpus holds its 2,000 messages."""
    assert 2000 == len(eml_names(HAM))


def test_no_ham_message_is_held(gateway: Gateway) -> None:
    """None of the 2,000 benign emails is quarantined or rejected against the example register."""
    result = gateway("scan", "--register", REGISTER, "--json", HAM)
    assert 0 == result.status, result.err[-2000:]
    records = result.records
    assert eml_names(HAM) == [Path(r["file"]).name for r in records]
    held = [
        f"{Path(r['file']).name}: {r['action']} {r['rules']}"
        for r in records
        if r["action"] in HELD
    ]
    assert [] == held, f"{len(held)} ham messages held:\n" + "\n".join(held)


def test_mime_edge_corpus_scans_every_message_without_a_crash(gateway: Gateway) -> None:
    """Every unusual or malformed message gets one JSON line with a verdict and exit 0."""
    names = eml_names(MIME_EDGE)
    assert names, f"no messages in {MIME_EDGE}"
    result = gateway("scan", "--register", REGISTER, "--json", MIME_EDGE)
    assert 0 == result.status, result.err[-2000:]
    records = result.records
    assert names == [Path(r["file"]).name for r in records]
    failed = [f"{Path(r['file']).name}: {r.get('error')}" for r in records if "action" not in r]
    assert [] == failed
