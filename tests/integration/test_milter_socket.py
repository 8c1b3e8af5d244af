"""``gateway milter --listen unix:PATH`` with Postfix connecting as its own user: the
socket's ``milter_socket_mode`` and ``milter_socket_group`` decide whether it can.

Postfix's smtpd runs as user ``postfix``; the gateway (here root) makes the socket.
Given group ``postfix`` and mode 0660, Postfix connects and clean mail is delivered;
with mode 0600 it cannot, and ``milter_default_action = tempfail`` keeps the mail
with the client (4xx), nothing delivered.
"""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.postfix.harness import (
    GATEWAY_BIN,
    HOST,
    INTERNAL_DOMAIN,
    REGISTER,
    _stop_process,
    build_mail,
    wait_until,
)
from tests.integration.test_milter_postfix import LANDLORD, Setup, first_refusal, make_setup

pytestmark = pytest.mark.slow

SOCKET = "gw/milter.sock"  # under the work folder, which postfix may traverse


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def unix_milter(setup: Setup, mode: str, group: str | None) -> Iterator[Path]:
    """``gateway milter`` on the Unix socket Postfix is set up with; its path."""
    workdir = setup.pf.root.parent
    (workdir / "gw").mkdir(mode=0o755, exist_ok=True)
    path = workdir / SOCKET
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_MILTER_SOCKET_MODE"] = mode
    if group is not None:
        env["GATEWAY_MILTER_SOCKET_GROUP"] = group
    log = workdir / "gw" / "gateway.log"
    command = [
        str(GATEWAY_BIN),
        "milter",
        "--listen",
        f"unix:{path}",
        "--upstream",
        f"{HOST}:{setup.reinject_port}",
        "--data-dir",
        str(workdir / "gw" / "data"),
        "--register",
        str(REGISTER),
        "--internal-domain",
        INTERNAL_DOMAIN,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        up = lambda: proc.poll() is not None or _listening(path)  # noqa: E731
        wait_until(up, 60, "gateway milter on its Unix socket")
        assert proc.poll() is None, log.read_text(errors="replace")
        yield path
    finally:
        _stop_process(proc)
        print(f"--- gateway milter ---\n{log.read_text(errors='replace')}")


@pytest.fixture
def setup() -> Iterator[Setup]:
    """Postfix whose smtpd and sendmail(1) use the milter on the Unix socket."""
    milters = f"unix:{{workdir}}/{SOCKET}"
    main_cf = f"smtpd_milters = {milters}\nnon_smtpd_milters = {milters}\n"
    with make_setup(main_cf) as running:
        yield running


def test_postfix_connects_to_a_socket_of_its_group(setup: Setup) -> None:
    """Mode 0660, group postfix: the socket is so, and clean mail is delivered through it."""
    with unix_milter(setup, "0660", "postfix") as path:
        info = path.stat()
        assert (0o660, "postfix") == (stat.S_IMODE(info.st_mode), grp.getgrgid(info.st_gid).gr_name)
        msg = build_mail(to=[LANDLORD], subject="Repairs", body="The boiler is fixed.\n")
        assert 0 == first_refusal(setup.in_port, msg)
        (arrived,) = setup.sink.wait_for(1, timeout=60)
    assert "Repairs" == arrived.message["Subject"]


def test_a_socket_postfix_may_not_open_tempfails_and_delivers_nothing(setup: Setup) -> None:
    """Mode 0600 (root's alone): Postfix cannot connect, answers 4xx, nothing delivered."""
    with unix_milter(setup, "0600", None):
        msg = build_mail(to=[LANDLORD], subject="Repairs", body="The boiler is fixed.\n")
        assert 4 == first_refusal(setup.in_port, msg) // 100
        wait_until(
            lambda: bool(setup.pf.log_lines("Permission denied")),
            30,
            f"Postfix's failed milter connection\n{setup.pf.log_text()}",
        )
    assert 0 == setup.sink.count()
