"""The scanner: the register version in force, run in scan threads or processes.

``Core`` is what a scan needs (the index or the scan processes holding it, the
policy, the settings, the register version and where it came from); ``Scanner``
runs each scan on the core in force and switches to a new core exactly: the swap,
the ``register loaded`` line and the ``gateway_register_version`` metric happen in
one step of the event loop, once every scan worker of the new core is ready.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import structlog

from gateway import workers
from gateway.budget import OVER_TIME
from gateway.envelope import Envelope
from gateway.errors import WorkerLost
from gateway.match import Index
from gateway.metrics import Metrics
from gateway.policy import Policy
from gateway.scan import SCAN_FAILED, ScanResult, ScanSettings, scan, unscannable

log = structlog.get_logger("gateway.scanner")


@dataclass
class Core:
    """What a scan needs, swapped whole when a new register version is imported."""

    index: Index | None
    policy: Policy
    settings: ScanSettings
    version: int
    pool: workers.ScanPool | None = None  # scanning in processes, each with its index
    cases: int = 0
    source: str = ""  # where the version came from: the file or upload imported


class Scanner:
    """Runs the core in worker threads or processes, within the scan time budget;
    fails closed.

    Each scan stops by itself at its budget (``scan_budget``: the deadline extraction
    and matching check between chunks of work) and the message is held as
    unscannable.  A scan process that overruns anyway (a long C call) is killed by
    its supervisor and replaced at once (``gateway/workers.py``).  A scan thread
    (``scan_processes = 0``) cannot be killed: there the cooperative deadline is all
    that holds, and ``timeout`` only stops the wait for its answer.

    The core in force changes only in ``install``, in one step of the event loop,
    once the new core's scan workers are all ready; each scan reads ``self.core`` as
    it starts (and again only if its pool was retired or died under it, which can
    only make its version newer).  So every scan that starts after the switch uses
    the new version, and those under way finish on the old one, whose processes stop
    after.  Each result says which register version scanned it (``register_version``).
    """

    def __init__(
        self,
        core: Core,
        workers: int,
        timeout: float,
        metrics: Metrics,
        reload: Callable[[], Awaitable[Core]] | None = None,
    ) -> None:
        self.core = core
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan")
        self.timeout = timeout
        self.metrics = metrics
        self.reload = reload  # a fresh core, for when the scan processes died
        self._reloading = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.switched = asyncio.Event()  # set at each install, for the store's record
        self._announce(core)

    async def __call__(self, envelope: Envelope) -> ScanResult:
        started = time.perf_counter()
        result = await self._scan(envelope)
        self.metrics.scan_seconds.observe(time.perf_counter() - started)
        self.metrics.messages.labels(result.verdict.action.value).inc()
        return result

    async def rescan(self, envelope: Envelope) -> ScanResult:
        """A scan for a release (``release: rescan``): not counted as mail."""
        return await self._scan(envelope)

    async def _scan(self, envelope: Envelope) -> ScanResult:
        """A scan whose worker process died is tried once more on new processes (it
        may have died of another message); a second death holds the message.  A scan
        that reached a pool just retired by a switch goes to the core in force."""
        core, deaths = self.core, 0
        while True:
            try:
                return await self._scan_on(core, envelope)
            except WorkerLost:
                switched = core is not self.core and core.pool is not None and core.pool.closing
                if switched:
                    core = self.core
                    continue
                if deaths or not (core.pool is not None and core.pool.closing):
                    log.error("scan process died", reason="worker lost")
                if deaths:
                    failed = unscannable(core.policy, SCAN_FAILED, 0.0)
                    return replace(failed, register_version=core.version)
                deaths += 1
                core = await self._replace(core)

    async def _scan_on(self, core: Core, envelope: Envelope) -> ScanResult:
        """The scan on ``core``; a worker process says itself which version scanned."""
        if core.pool is not None:
            job: Awaitable[ScanResult] = core.pool.scan(envelope)
        else:
            assert core.index is not None
            job = asyncio.get_running_loop().run_in_executor(
                self.pool, scan, envelope, core.index, core.policy, core.settings
            )
        try:
            result = await asyncio.wait_for(job, self.timeout)
        except TimeoutError:
            log.warning("scan over time budget", reason=OVER_TIME)
            result = unscannable(core.policy, OVER_TIME, self.timeout * 1000)
        if result.register_version:
            return result
        return replace(result, register_version=core.version)

    async def _replace(self, broken: Core) -> Core:
        """New scan processes for a core whose pool broke (concurrent callers share one
        restart); the core in force, if the broken one was retired meanwhile."""
        retired = broken.pool is not None and broken.pool.closing  # by a reload or a stop
        async with self._reloading:
            if self.core is broken and not retired and self.reload is not None:
                self.install(await self.reload())
                log.info("scan processes restarted")
        return self.core

    def install(self, new: Core) -> bool:
        """Put ``new`` in force (its scan workers are all ready): scans that start from
        now on use it; those under way finish on the old core, whose processes then
        stop.  The swap, the log line and the metric happen in one synchronous step,
        so no scan starts between them.  A core older than the one in force is not
        installed (False) and its processes are stopped."""
        old = self.core
        if new.version < old.version:
            self.retire(new)
            return False
        self.core = new
        if new is not old:
            self.retire(old)
        if new.version != old.version:
            self._announce(new)
        self.switched.set()
        return True

    def _announce(self, core: Core) -> None:
        """Say that ``core``'s version is in force: the log line and the metric."""
        self.metrics.register_version.set(core.version)
        log.info("register loaded", version=core.version, count=core.cases, source=core.source)

    def retire(self, core: Core) -> None:
        """Stop an old core's scan processes once their scans are done, meanwhile;
        from now on it takes no new scan."""
        if core.pool is not None:
            core.pool.closing = True
            task = asyncio.create_task(core.pool.close())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Stop the scan threads and processes (scans under way finish first)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.retire(self.core)
        await asyncio.gather(*self._retiring)
