"""Starting the gateway as a new admin would: a port in use, a key that is not private,
a store without its key, and the one line that says it is listening."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.smtp_support import GATEWAY, REPO, free_port
from tests.integration.support import REGISTER


@pytest.fixture
def taken() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def _serve(data: Path, *extra: str, listen: int | None = None) -> subprocess.CompletedProcess[str]:
    """``gateway serve`` that is expected to stop at start."""
    return subprocess.run(
        [
            str(GATEWAY),
            "serve",
            "--listen",
            f"127.0.0.1:{listen or free_port()}",
            "--upstream",
            f"127.0.0.1:{free_port()}",
            "--data-dir",
            str(data),
            "--register",
            str(REGISTER),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
    )


def test_a_console_port_in_use_stops_the_gateway_at_start(tmp_path: Path, taken: int) -> None:
    """Exit status 2 and the address named, instead of a gateway without its console;
    nothing is made in the data folder."""
    result = _serve(tmp_path / "data", "--console", f"127.0.0.1:{taken}")
    assert 2 == result.returncode
    assert f"console: cannot listen on 127.0.0.1:{taken}" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_busy_smtp_port_is_one_line_and_no_file(tmp_path: Path, taken: int) -> None:
    """The SMTP port in use: one line on stderr, no key, no store, no import."""
    result = _serve(tmp_path / "data", listen=taken)
    assert 2 == result.returncode
    expected = (
        f"gateway: error: listen: cannot listen on 127.0.0.1:{taken} (Address already in use)"
    )
    assert [expected] == result.stderr.splitlines()
    assert not (tmp_path / "data").exists()


def test_make_run_with_a_busy_port_prints_one_line_and_leaves_no_file(
    tmp_path: Path, taken: int
) -> None:
    """The demo ``make run`` starts: the same check before anything is written."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.demo",
            "--data-dir",
            str(tmp_path / "data"),
            "--register",
            str(REGISTER),
            "--listen",
            f"127.0.0.1:{taken}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert 0 != result.returncode
    assert 1 == len(result.stderr.splitlines()), result.stderr
    assert f"127.0.0.1:{taken}" in result.stderr
    assert "make run LISTEN=" in result.stderr
    assert not (tmp_path / "data").exists()


def test_make_run_takes_its_ports_from_make_variables() -> None:
    """LISTEN, CONSOLE and SINK_PORT reach the demo's command line."""
    shown = subprocess.run(
        [
            shutil.which("make") or "make",
            "-n",
            "-C",
            str(REPO),
            "run",
            "LISTEN=127.0.0.1:2525",
            "CONSOLE=127.0.0.1:8080",
            "SINK_PORT=2526",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "--listen 127.0.0.1:2525 --console 127.0.0.1:8080 --sink-port 2526" in shown


def test_a_key_open_to_others_stops_the_start(tmp_path: Path) -> None:
    """A master key with mode 0644 is refused, with how to fix it."""
    data = tmp_path / "data"
    data.mkdir()
    key = data / "master.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    result = _serve(data)
    assert 2 == result.returncode
    assert f"chmod 600 {key}" in result.stderr


def test_a_store_whose_key_is_elsewhere_gets_no_new_key(tmp_path: Path) -> None:
    """An existing store and no key file (``--key-file`` forgotten): refused; no key made."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "gateway.sqlite3").write_bytes(b"")  # stands for a store made with another key
    result = _serve(data)
    assert 2 == result.returncode
    assert "a new key would not open the store" in result.stderr
    assert not (data / "master.key").exists()


def test_serve_says_it_is_listening_at_the_default_log_level(tmp_path: Path) -> None:
    """Without --log-level, one line says where it listens."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(GATEWAY),
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--upstream",
                f"127.0.0.1:{free_port()}",
                "--data-dir",
                str(tmp_path / "data"),
                "--register",
                str(REGISTER),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        )
    try:
        deadline = time.monotonic() + 120
        while '"event": "listening"' not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(60)
    lines = [line for line in log.read_text().splitlines() if '"listening"' in line]
    assert 1 == len(lines)
    assert f"127.0.0.1:{port}" in lines[0]
