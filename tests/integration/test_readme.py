"""The README's examples run as written: the smtplib snippet against a real gateway,
and no link leads outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.integration.smtp_support import (
    REPO,
    Gateway,
    SinkHandler,
    held_messages,
)

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_the_smtplib_example_runs_as_written(
    served: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """The Python block of the quick start, pointed at this gateway's port: it prints
    ``{}`` (no recipient refused) and the leak is held, not relayed."""
    [snippet] = [b for b in re.findall(r"```python\n(.*?)```", README, re.DOTALL) if "smtplib" in b]
    code = snippet.replace("10025", str(served.port))
    assert code != snippet
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert ("{}\n", 0) == (ran.stdout, ran.returncode), ran.stderr
    assert [] == upstream[0].messages
    assert 1 == len(held_messages(served.data_dir))


def test_no_link_leads_outside_the_repository() -> None:
    """Every relative link and path the README names is in the repository."""
    assert "../" not in README
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (REPO / target).exists(), target
