"""The register's life under ``gateway serve``: a new import put in force, and a restart.

``python -m benchmarks.register_life`` (also part of ``python -m benchmarks``).  For
each register size, in a fresh data folder:

1. ``gateway register import --yes`` of a synthetic register (JSON, as
   ``benchmarks/smtp_load.py`` writes it), then ``gateway serve``: the first start
   builds the index and seals it beside the store (shown, no target);
2. import-to-in-force: ``gateway register import --yes --wait`` of the same register
   with 1% of its cases changed, timed from the command's start to its return, which
   is when the running gateway scans every message with the new version;
3. restart-to-accepting: the gateway stopped (SIGTERM) and started again, timed
   from the start of the process to its SMTP greeting (``220``), which it gives only
   once every scan process holds the index; it must say ``index loaded from disk``.

Targets (issue 10): import-to-in-force <= 20 s at 100,000 cases on 2 cores;
restart-to-accepting <= 5 s at 100,000 cases and <= 30 s at 1,000,000.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.smtp_load import GATEWAY, HOST, INTERNAL, REPO, free_port, write_register

IMPORT_TARGET = {100_000: 20.0}
RESTART_TARGET = {100_000: 5.0, 1_000_000: 30.0}
LOADED = "index loaded from disk"


@dataclass
class Life:
    """The figures of one size, in seconds."""

    size: int
    first_import: float
    first_start: float
    import_in_force: float
    restart: float
    from_disk: bool
    steps: dict[str, float]  # of the import to in force: where its time went


def write_registers(folder: Path, size: int) -> tuple[Path, Path]:
    """A register and the same with every hundredth case changed (an alias added)."""
    first, second = folder / "register.json", folder / "register-changed.json"
    write_register(first, size)
    gc.disable()  # millions of new objects, none cyclic: the collector only costs time
    try:
        data = json.loads(first.read_text(encoding="utf-8"))
        for case in data["cases"][::100]:
            case["protected"][0]["aliases"] = ["Jo Tester"]
        second.write_text(json.dumps(data), encoding="utf-8")
        del data
    finally:
        gc.enable()
    return first, second


def _command(*args: str, data: Path) -> list[str]:
    return [str(GATEWAY), *args, "--data-dir", str(data)]


def _run(command: list[str], timeout: float) -> float:
    """Seconds ``command`` took; ``RuntimeError`` with its output if it failed."""
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own command line
        command, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[1:3]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.monotonic() - started


class Gateway:
    """``gateway serve`` on a fresh port, its output in ``log``."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data, self.log = data, log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float) -> float:
        """Start it; the seconds until its SMTP greeting."""
        command = _command(
            "--log-level",
            "info",
            "serve",
            "--listen",
            f"{HOST}:{self.port}",
            "--upstream",
            f"{HOST}:{free_port()}",
            "--internal-domain",
            INTERNAL,
            data=self.data,
        )
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=dict(os.environ)
            )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited:\n{self.tail()}")
            if _greeted(self.port):
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"gateway did not greet within {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _greeted(port: int) -> bool:
    """Whether the gateway answers a connection with its 220 greeting."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1.0) as sock:
        sock.settimeout(5.0)
        return sock.recv(3) == b"220"
    return False


def measure(size: int, timeout: float) -> Life:
    """The figures of one register size, in a temporary folder removed after."""
    with tempfile.TemporaryDirectory(prefix="register-life-") as tmp:
        work = Path(tmp)
        first, second = write_registers(work, size)
        data = work / "data"
        _run(_command("keygen", data=data), timeout)
        first_import = _run(_command("register", "import", "--yes", str(first), data=data), timeout)
        gateway = Gateway(data, work / "gateway.log")
        try:
            first_start = gateway.start(timeout)
            wait = ("register", "import", "--yes", "--wait", "--timeout", str(int(timeout)))
            began = time.time()
            in_force = _run(_command(*wait, str(second), data=data), timeout + 60)
            steps = _steps(gateway.log, began, in_force)
            gateway.stop()
            before = gateway.log.read_text(errors="replace").count(LOADED)
            restart = gateway.start(timeout)
            from_disk = gateway.log.read_text(errors="replace").count(LOADED) > before
        finally:
            gateway.stop()
        return Life(size, first_import, first_start, in_force, restart, from_disk, steps)


def _steps(log: Path, began: float, total: float) -> dict[str, float]:
    """The import's time split by the gateway's log: the command and the wait for the
    gateway to notice it, the index build, and the scan processes' start."""
    events: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("version") == 2 and "timestamp" in record:
                stamp = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
                events.setdefault(record["event"], stamp.timestamp() - began)
    start, built = events.get("building the index", 0.0), events.get("index built", 0.0)
    return {
        "command and notice": start,
        "index build": built - start,
        "seal, scan processes, switch": events.get("register loaded", total) - built,
        "--wait noticing": total - events.get("register loaded", total),
    }


def _against(seconds: float, target: float | None) -> str:
    if target is None:
        return f"{seconds:7.1f} s"
    verdict = "met" if seconds <= target else "NOT met"
    return f"{seconds:7.1f} s  (target <= {target:.0f} s: {seconds / target:.2f}x, {verdict})"


def report(sizes: list[int], timeout: float = 900.0) -> bool:
    """Print the figures of each size against the targets; True if all are met."""
    ok = True
    for size in sizes:
        life = measure(size, timeout)
        print(f"\n== register life, {size:,} cases, {os.cpu_count()} core(s) ==")
        print(f"first import (CLI)       {life.first_import:7.1f} s")
        print(f"first start to accepting {life.first_start:7.1f} s  (builds and keeps the index)")
        print(f"import to in force       {_against(life.import_in_force, IMPORT_TARGET.get(size))}")
        print("  of which " + ", ".join(f"{k} {v:.1f} s" for k, v in life.steps.items()))
        print(f"restart to accepting     {_against(life.restart, RESTART_TARGET.get(size))}")
        print(f"restart used the index kept on disk: {'yes' if life.from_disk else 'NO'}")
        ok &= life.from_disk
        ok &= life.import_in_force <= IMPORT_TARGET.get(size, float("inf"))
        ok &= life.restart <= RESTART_TARGET.get(size, float("inf"))
    return ok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("register life")
    group.add_argument(
        "--life-sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="register sizes"
    )
    group.add_argument("--life-timeout", type=float, default=900.0, help="seconds per step")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.register_life", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
    raise SystemExit(0 if report(args.life_sizes, args.life_timeout) else 1)


if __name__ == "__main__":
    main()
