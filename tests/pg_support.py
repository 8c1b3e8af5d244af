"""A throwaway PostgreSQL server on loopback for the tests (Debian's ``postgresql``).

``initdb`` and ``pg_ctl`` refuse to run as root, so as root the server runs as the
``postgres`` user the package creates, in a temporary folder that user owns (see
``../shared/howto/postgresql-on-loopback.md``).  Each test gets a database of its own
(``Server.new_database``); the server lives for the test session.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PG_VERSIONS = ("17", "16", "15")


def pg_bin() -> Path | None:
    """The folder of the server binaries (initdb, pg_ctl); None if none is installed."""
    for version in PG_VERSIONS:
        folder = Path(f"/usr/lib/postgresql/{version}/bin")
        if (folder / "initdb").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class Server:
    """A running throwaway server: its port, data folder and binaries."""

    port: int
    folder: Path
    bin: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def pg_ctl(self, *args: str, timeout: float = 120) -> None:
        """Run ``pg_ctl`` on this server (``stop``, ``start``, ``restart``...)."""
        subprocess.run(
            _as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), *args]),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        options += " -c fsync=off -c max_connections=300"
        self.pg_ctl("-l", str(self.folder / "log"), "-w", "-t", "120", "start", "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "-t", "120", "stop")


@contextmanager
def throwaway_postgres() -> Iterator[Server]:
    """Start a server on a free loopback port; stop it and remove its files after."""
    folder_bin = pg_bin()
    if folder_bin is None:
        raise RuntimeError(
            "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
        )
    folder = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = Server(_free_port(), folder, folder_bin)
    subprocess.run(
        _as_server_user(
            [
                str(folder_bin / "initdb"),
                "-D",
                str(folder / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=300,
    )
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop("immediate")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
