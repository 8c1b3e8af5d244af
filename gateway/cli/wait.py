"""``gateway register import --wait``: until the running gateway scans with a version.

The running ``gateway serve`` records in the store the register version every scan
worker scans with, once they all do, and a heartbeat every few seconds (removed when
it stops); this reads both until the version (or a newer one) is in force.

Exit status: 0 in force; 3 not in force within ``--timeout``; 4 no gateway running
(the version is stored, and will be in force when one starts).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from gateway.settings import Settings
from gateway.store import Store
from gateway.store.inforce import InForce
from gateway.store.opening import open_settings_store, store_keys

NOT_IN_FORCE = 3
NOT_RUNNING = 4
DEFAULT_TIMEOUT_S = 300.0
POLL_S = 0.2  # the store is read, never written, at this pace


def add_wait_options(parser: argparse.ArgumentParser) -> None:
    """``--wait`` and ``--timeout S``."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="return once the running gateway scans every message with the new version "
        f"(exit {NOT_IN_FORCE} on timeout, {NOT_RUNNING} if no gateway runs)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"how long --wait waits, in seconds (default {DEFAULT_TIMEOUT_S:.0f})",
    )


def wait_in_force(settings: Settings, version: int, timeout: float) -> int:
    """Wait until the running gateway has register ``version`` (or a newer one) in
    force -> the exit status, with a line saying what happened."""
    keys, _ = store_keys(settings)

    async def work() -> tuple[int, InForce | None]:
        store = await open_settings_store(settings, keys)
        try:
            return await _poll(store, version, time.monotonic() + timeout)
        finally:
            await store.close()

    status, now = asyncio.run(work())
    shown = "none" if now is None else f"version {now.version}"
    if status == 0:
        assert now is not None
        print(f"register version {now.version} in force since {now.since:%Y-%m-%d %H:%M:%S} UTC")
    elif status == NOT_RUNNING:
        where = "the shared store" if settings.store else settings.data_dir
        print(
            f"the gateway is not running (no heartbeat in {where}): register "
            f"version {version} will be in force when it starts",
            file=sys.stderr,
        )
    else:
        print(
            f"register version {version} not in force after {timeout:g} s "
            f"(in force: {shown}); see the gateway's log",
            file=sys.stderr,
        )
    return status


async def _poll(store: Store, version: int, deadline: float) -> tuple[int, InForce | None]:
    """Read the running nodes and the version each has in force until every one has
    ``version`` or newer, none runs, or ``deadline`` (monotonic) has passed; the
    version in force the longest (on the node furthest behind)."""
    while True:
        nodes = await store.nodes()
        if not nodes:
            return NOT_RUNNING, await store.in_force()
        forced = [n.in_force for n in nodes]
        if all(f is not None and f.version >= version for f in forced):
            return 0, min((f for f in forced if f), key=lambda f: (f.version, f.since))
        if time.monotonic() >= deadline:
            behind = [f for f in forced if f is None or f.version < version]
            return NOT_IN_FORCE, behind[0]
        await asyncio.sleep(POLL_S)
