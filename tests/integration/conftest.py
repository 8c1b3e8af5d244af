"""Shared fixtures for the integration tests: the example register, message files, the CLI."""

# STYLE.md asks for `expected == actual`, which ruff reads as a Yoda condition.

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from gateway.cli import main

from .smtp_support import Gateway, SinkHandler, sink, start_gateway
from .support import REGISTER, CliRun, Mail, build_message


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """The CLI configures structlog to print to the captured stderr; undo it afterwards."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def register() -> Path:
    """The example register from the shared contracts."""
    assert REGISTER.is_file(), f"missing {REGISTER}"
    return REGISTER


@pytest.fixture
def write_mail(tmp_path: Path) -> Callable[..., Path]:
    """Write a message built from keyword fields of ``Mail`` to ``tmp_path/name``."""

    def write(name: str = "message.eml", folder: Path | None = None, **fields: Any) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build_message(Mail(**fields)))
        return path

    return write


@pytest.fixture
def gateway(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """Run ``gateway.cli.main`` in-process and capture its status and output."""

    def run(*argv: object) -> CliRun:
        capsys.readouterr()
        try:
            status = main([str(arg) for arg in argv])
        except SystemExit as exc:  # argparse usage errors
            status = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return CliRun(status, captured.out, captured.err)

    return run


@pytest.fixture
def scan(gateway: Callable[..., CliRun], register: Path) -> Callable[..., dict[str, Any]]:
    """Scan one message file with ``--json`` against the example register; its record."""

    def run(path: Path, *options: object) -> dict[str, Any]:
        result = gateway("scan", "--register", register, "--json", *options, path)
        assert 0 == result.status, result.err
        return result.record

    return run


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    """A recording SMTP sink standing for the organisation's mail server: (handler, port)."""
    with sink() as peer:
        yield peer


@pytest.fixture
def served(tmp_path: Path, upstream: tuple[SinkHandler, int]) -> Iterator[Gateway]:
    """A running ``gateway serve`` relaying to ``upstream``; it must stop cleanly."""
    running = start_gateway(tmp_path / "data", upstream[1])
    yield running
    assert 0 == running.stop(), running.logs()[-2000:]
