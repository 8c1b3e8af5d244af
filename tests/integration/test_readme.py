"""The README's examples run as written: the smtplib snippet against a real gateway,
and no link leads outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.smtp_support import (
    REPO,
    Gateway,
    SinkHandler,
    held_messages,
    sink,
    start_gateway,
)

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


@pytest.fixture
def gateway(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> Iterator[Gateway]:
    running = start_gateway(tmp_path / "data", upstream[1])
    yield running
    assert 0 == running.stop(), running.logs()[-2000:]


def test_the_smtplib_example_runs_as_written(
    gateway: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """The Python block of the quick start, pointed at this gateway's port: it prints
    ``{}`` (no recipient refused) and the leak is held, not relayed."""
    [snippet] = [b for b in re.findall(r"```python\n(.*?)```", README, re.DOTALL) if "smtplib" in b]
    code = snippet.replace("10025", str(gateway.port))
    assert code != snippet
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert ("{}\n", 0) == (ran.stdout, ran.returncode), ran.stderr
    assert [] == upstream[0].messages
    assert 1 == len(held_messages(gateway.data_dir))


def test_no_link_leads_outside_the_repository() -> None:
    """Every relative link and path the README names is in the repository."""
    assert "../" not in README
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (REPO / target).exists(), target
