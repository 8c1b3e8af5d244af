"""The console's register page says which version the running gateway scans with."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import yaml

from tests.integration.console_support import (
    PASSWORD,
    ConsoleGateway,
    console_gateway,
    http_login,
)
from tests.integration.support import REGISTER


def in_force_line(client: httpx.Client) -> str:
    """The register page's in-force line, tags removed."""
    found = re.search(r'<p class="in-force"[^>]*>(.*?)</p>', client.get("/register").text)
    assert found is not None
    return re.sub(r"<[^>]+>", "", found[1])


def wait_for_line(client: httpx.Client, expected: str) -> str:
    """The in-force line once it contains ``expected`` (the gateway records the version
    in force when its first scan workers are ready: poll for that event)."""
    deadline = time.monotonic() + 60
    while expected not in (line := in_force_line(client)):
        assert time.monotonic() < deadline, line
        time.sleep(0.1)
    return line


def test_the_register_page_shows_the_version_in_force_and_its_source(tmp_path: Path) -> None:
    """The page names version 1, from the file given at start, then version 2 once an
    import with --wait has returned; it shows no protected value."""
    changed = tmp_path / "register-v2.yaml"
    register = yaml.safe_load(REGISTER.read_text(encoding="utf-8"))
    register["cases"][0]["restricted"][0]["emails"].append("lettings@landlord.example")
    changed.write_text(yaml.safe_dump(register), encoding="utf-8")
    with console_gateway(tmp_path) as running, httpx.Client(base_url=running.url) as client:
        _admin(running)
        assert 303 == http_login(client, "reggie").status_code
        first = wait_for_line(client, "In force: version 1 ")
        assert str(REGISTER) in first
        waited = running.cli("register", "import", str(changed), "--yes", "--wait")
        assert 0 == waited.returncode, waited.stderr
        second = in_force_line(client)
        assert "In force: version 2 (every scan worker scans with it)" in second
        assert str(changed.resolve()) in second
        assert "lettings@landlord.example" not in client.get("/register").text


def _admin(running: ConsoleGateway) -> None:
    added = running.cli(
        "user",
        "add",
        "reggie",
        "--email",
        "reggie@council.example.gov.uk",
        "--role",
        "register-admin",
        stdin=PASSWORD + "\n",
    )
    assert 0 == added.returncode, added.stderr
