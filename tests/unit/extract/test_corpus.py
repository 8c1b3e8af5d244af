"""Corpus tests: real-world odd MIME never breaks extract, and ham always has a body."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.extract import Limits, extract

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS = REPO_ROOT.parent / "shared" / "corpus"
MIME_EDGE = sorted((CORPUS / "mime-edge").glob("*.eml"))
HAM = sorted((CORPUS / "ham").glob("*.eml"))

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not MIME_EDGE, reason="shared corpus not present")
@pytest.mark.parametrize("path", MIME_EDGE, ids=lambda p: p.name)
def test_mime_edge_message_extracts_without_error_within_budget(path: Path) -> None:
    """Every odd or malformed message goes through extract quickly and without raising."""
    started = time.monotonic()
    result = extract(path.read_bytes())
    assert time.monotonic() - started < Limits().time_budget_s
    assert all(u.reason != "over time budget" for u in result.unreadable)


@pytest.mark.skipif(not HAM, reason="shared corpus not present")
def test_every_ham_message_has_a_non_empty_body() -> None:
    """Each ordinary business email yields a non-empty `body` segment."""
    missing = [
        p.name
        for p in HAM
        if not any(
            s.location == "body" and s.text.strip() for s in extract(p.read_bytes()).segments
        )
    ]
    assert missing == []
