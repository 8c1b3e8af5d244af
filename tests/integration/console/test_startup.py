"""Starting the console: a port already in use stops the gateway with a clear error."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.integration.smtp_support import GATEWAY, free_port
from tests.integration.support import REGISTER


def test_a_console_port_in_use_stops_the_gateway_at_start(tmp_path: Path) -> None:
    """Exit status 2 and the address named, instead of a gateway without its console."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                str(GATEWAY),
                "serve",
                "--listen",
                f"127.0.0.1:{free_port()}",
                "--upstream",
                f"127.0.0.1:{free_port()}",
                "--data-dir",
                str(tmp_path / "data"),
                "--register",
                str(REGISTER),
                "--console",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert 2 == result.returncode
    assert f"console: cannot listen on 127.0.0.1:{port}" in result.stderr
