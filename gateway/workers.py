"""Scanning in worker processes, so that scans use every core, not one GIL.

Each worker builds its own index from the register when it starts (the forkserver
gives it a clean process, with no threads or sockets of the server's), then scans
the envelopes it is sent.  A new register version gets a new pool.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gateway.envelope import Envelope
from gateway.match import Index, build_index
from gateway.policy import Policy, load_policy
from gateway.register import Register
from gateway.scan import ScanResult, ScanSettings, scan


@dataclass
class _Worker:
    index: Index
    policy: Policy
    settings: ScanSettings


_worker: _Worker | None = None


def _start(register: Register, policy_dir: str, internal_domains: tuple[str, ...]) -> None:
    # The register arrives pickled: already validated, so it is not validated again.
    global _worker  # noqa: PLW0603 - one core per worker process, set once at its start
    _worker = _Worker(
        build_index(register.cases, register.protected_locations),
        load_policy(Path(policy_dir)),
        ScanSettings(internal_domains=internal_domains),
    )


def _ready() -> bool:
    return _worker is not None


def scan_in_worker(envelope: Envelope) -> ScanResult:
    """The core on one message, in a worker process."""
    assert _worker is not None, "worker not started"
    return scan(envelope, _worker.index, _worker.policy, _worker.settings)


async def start_pool(
    processes: int, register: Register, policy_dir: Path, internal_domains: tuple[str, ...]
) -> ProcessPoolExecutor:
    """A pool whose every worker has built its index before the first message."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["gateway.workers"])
    pool = ProcessPoolExecutor(
        processes,
        mp_context=context,
        initializer=_start,
        initargs=(register, str(policy_dir), internal_domains),
    )
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, _ready) for _ in range(processes * 2)))
    return pool
