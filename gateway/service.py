"""``gateway serve``: store, register index, scanner pool and SMTP server, run together.

One ``asyncio.TaskGroup`` owns the server and the register watcher; SIGTERM stops new
connections (421), lets in-flight messages finish, then closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from gateway import workers
from gateway.budget import OVER_TIME
from gateway.console import Console, ConsoleSettings, bind_console, serve_console
from gateway.crypto import KeyRing
from gateway.envelope import Envelope
from gateway.errors import ConfigError, WorkerLost
from gateway.match import Index, build_index
from gateway.metrics import Metrics, observe_relay, serve_http
from gateway.policy import Policy, default_policy_dir, load_policy
from gateway.register import parse_register
from gateway.relay import UpstreamPool, upstream_config
from gateway.review import Notifier, Review, record_event
from gateway.review.upkeep import audit_policy, upkeep
from gateway.scan import SCAN_FAILED, ScanResult, ScanSettings, scan, unscannable
from gateway.settings import Settings
from gateway.smtp.auth import Authenticator, load_users
from gateway.smtp.handler import GatewayHandler, Holder
from gateway.smtp.server import Gate, GatewaySMTP
from gateway.store import HeldMessage, Store, StoreError

log = structlog.get_logger("gateway.service")
WATCH_SECONDS = 2.0
DRAIN_SECONDS = 60.0
NOTICE_SECONDS = 10.0  # at shutdown, for the held-mail notices under way
SERVE_ACTOR = "system:serve"


@dataclass
class Core:
    """What a scan needs, swapped whole when a new register version is imported."""

    index: Index | None
    policy: Policy
    settings: ScanSettings
    version: int
    pool: workers.ScanPool | None = None  # scanning in processes, each with its index


class Scanner:
    """Runs the core in worker threads or processes, within the scan time budget;
    fails closed.

    Each scan stops by itself at its budget (``scan_budget``: the deadline extraction
    and matching check between chunks of work) and the message is held as
    unscannable.  A scan process that overruns anyway (a long C call) is killed by
    its supervisor and replaced at once (``gateway/workers.py``).  A scan thread
    (``scan_processes = 0``) cannot be killed: there the cooperative deadline is all
    that holds, and ``timeout`` only stops the wait for its answer.
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
        may have died of another message); a second death holds the message."""
        core = self.core
        try:
            return await self._scan_on(core, envelope)
        except WorkerLost:
            if not (core.pool is not None and core.pool.closing):
                log.error("scan process died", reason="worker lost")
            core = await self._replace(core)
        try:
            return await self._scan_on(core, envelope)
        except WorkerLost:
            log.error("scan process died", reason="worker lost")
            return unscannable(core.policy, SCAN_FAILED, 0.0)

    async def _scan_on(self, core: Core, envelope: Envelope) -> ScanResult:
        if core.pool is not None:
            job: Awaitable[ScanResult] = core.pool.scan(envelope)
        else:
            assert core.index is not None
            job = asyncio.get_running_loop().run_in_executor(
                self.pool, scan, envelope, core.index, core.policy, core.settings
            )
        try:
            return await asyncio.wait_for(job, self.timeout)
        except TimeoutError:
            log.warning("scan over time budget", reason=OVER_TIME)
            return unscannable(core.policy, OVER_TIME, self.timeout * 1000)

    async def _replace(self, broken: Core) -> Core:
        """New scan processes for a core whose pool broke (concurrent callers share one
        restart); the core in force, if the broken one was retired meanwhile."""
        retired = broken.pool is not None and broken.pool.closing  # by a reload or a stop
        async with self._reloading:
            if self.core is broken and not retired and self.reload is not None:
                self.core = await self.reload()
                self.retire(broken)
                log.info("scan processes restarted")
        return self.core

    def retire(self, core: Core) -> None:
        """Stop an old core's scan processes once their scans are done, meanwhile."""
        if core.pool is not None:
            task = asyncio.create_task(core.pool.close())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Stop the scan threads and processes (scans under way finish first)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.retire(self.core)
        await asyncio.gather(*self._retiring)


class _ReleaseScan:
    """The running scanner, with the register and policy in force, as the review's
    ``Rescanner``."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner

    @property
    def policy(self) -> Policy:
        return self.scanner.core.policy

    async def __call__(self, envelope: Envelope) -> ScanResult:
        return await self.scanner.rescan(envelope)


async def load_core(store: Store, settings: Settings, policy: Policy) -> Core:
    """The newest register version, parsed and indexed: for scan processes, in a
    builder process (so the server's event loop never holds the GIL for it, nor keeps
    the parse's memory); for scan threads, in a thread."""
    source = await store.register_source()
    if source is None:
        raise ConfigError(
            "no register imported yet: pass --register FILE or run 'gateway register import FILE'"
        )
    scan_settings = ScanSettings(settings.internal_domains, settings.scan_limits())
    if settings.scan_processes > 0:
        built = await workers.build_in_process(source)
        log.info("register loaded", version=source.version, count=built.cases)
        pool = await workers.start_pool(
            settings.scan_processes,
            built,
            settings.policies or default_policy_dir(),
            settings.internal_domains,
            scan_settings.limits,
        )
        return Core(None, policy, scan_settings, source.version, pool)
    register = await asyncio.to_thread(source.parse)
    index = await asyncio.to_thread(build_index, register.cases, register.protected_locations)
    log.info("register loaded", version=source.version, count=len(register.cases))
    return Core(index, policy, scan_settings, source.version)


async def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT."""
    keys, created = KeyRing.ensure(settings.key_path)
    if created:
        log.warning("created a new master key", path=str(settings.key_path))
    store = await Store.open(settings.database, keys)
    try:
        await _serve(store, settings)
    finally:
        await store.close()


def _holder(review: Review, background: set[asyncio.Task[None]]) -> Holder:
    """Commit to the store; then, off the reply's path, send the notices."""

    async def hold(message: HeldMessage) -> str:
        message_id = await review.store.hold(message)
        if review.notifier is not None:
            task = asyncio.create_task(_notify_held(review.notifier, review.store, message))
            background.add(task)
            task.add_done_callback(background.discard)
        return message_id

    return hold


async def _finish_notices(background: set[asyncio.Task[None]], seconds: float) -> None:
    """Before the store closes: let the notices under way go out (within ``seconds``),
    and give up on the rest (the daily digest still counts their messages)."""
    if background:
        _done, late = await asyncio.wait(set(background), timeout=seconds)
        for task in late:
            task.cancel()
        if late:
            log.warning("notices not sent at shutdown", count=len(late))


async def _notify_held(notifier: Notifier, store: Store, message: HeldMessage) -> None:
    try:
        waiting = await store.count_held()
    except StoreError:
        waiting = 1
    await notifier.held(message, waiting)


async def _serve(store: Store, settings: Settings) -> None:
    review = Review.from_settings(store, settings)
    policy_dir, policy = await _start_with(store, settings, review)
    metrics = Metrics()
    core = await load_core(store, settings, policy)
    scanner = Scanner(
        core,
        settings.workers,
        settings.scan_timeout,
        metrics,
        reload=lambda: load_core(store, settings, policy),
    )
    review.rescan = _ReleaseScan(scanner)
    background: set[asyncio.Task[None]] = set()
    pool = UpstreamPool(upstream_config(settings), settings.upstream_pool, settings.upstream_idle)
    handler = GatewayHandler(
        pool,
        scanner,
        _holder(review, background),
        settings.hostname,
        settings.max_recipients,
        settings.trace_header,
        observe_relay(metrics),
    )
    gate = Gate(settings.trusted_networks, settings.max_connections, settings.session_timeout)
    metrics.connections.set_function(lambda: gate.active)
    console_socket = None if settings.console is None else bind_console(*settings.console)
    server = await _smtp_server(settings, handler, gate)
    stop = _stop_on_signals()
    http = None
    if settings.metrics is not None:
        http = await serve_http(*settings.metrics, metrics, lambda: not gate.draining)
    async with asyncio.TaskGroup() as tasks:
        watcher = tasks.create_task(_watch(store, settings, policy, scanner, metrics, pool))
        chores = tasks.create_task(
            upkeep(review, review.notifier, settings.retention_days, settings.digest_hour)
        )
        if console_socket is not None:
            console = Console(review, _console_settings(settings), policy, policy_dir)
            tasks.create_task(_console(console, console_socket, stop, settings))
        await stop.wait()
        gate.draining = True
        await _drain(handler)
        watcher.cancel()
        chores.cancel()
        await _finish_notices(background, NOTICE_SECONDS)
    await _close(server, pool, http, scanner)


async def _start_with(store: Store, settings: Settings, review: Review) -> tuple[Path, Policy]:
    """Import the register given at start, load the policy, audit a policy change."""
    if settings.register is not None:
        await _import_if_changed(store, settings.register)
    policy_dir = settings.policies or default_policy_dir()
    policy = load_policy(policy_dir)
    await audit_policy(review, policy_dir, SERVE_ACTOR)
    return policy_dir, policy


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _close(
    server: asyncio.Server, pool: UpstreamPool, http: asyncio.Server | None, scanner: Scanner
) -> None:
    """After the drain: stop listening, let go of the upstream, stop the scan workers."""
    server.close()
    await pool.close()
    if http is not None:
        http.close()
    await scanner.close()
    log.info("stopped")


async def _smtp_server(settings: Settings, handler: GatewayHandler, gate: Gate) -> asyncio.Server:
    options = _client_security(settings)
    server = await asyncio.get_running_loop().create_server(
        lambda: GatewaySMTP(
            handler,
            gate,
            hostname=settings.hostname,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            timeout=settings.idle_timeout,
            **options,
        ),
        *settings.listen,
    )
    log.info("listening", path=f"{settings.listen[0]}:{settings.listen[1]}")
    return server


def _console_settings(settings: Settings) -> ConsoleSettings:
    return ConsoleSettings(
        settings.console_idle_timeout, settings.console_session_lifetime, settings.scan_limits()
    )


async def _console(
    console: Console, sock: socket.socket, stop: asyncio.Event, settings: Settings
) -> None:
    host, port = sock.getsockname()[:2]
    log.info("console listening", path=f"{host}:{port}")
    await serve_console(console, sock, stop, settings.console_tls_cert, settings.console_tls_key)


def _client_security(settings: Settings) -> dict[str, Any]:
    """STARTTLS when a certificate is configured; AUTH (after STARTTLS) with a users file;
    with ``tls_client_ca``, TLS before MAIL and a client certificate from that CA."""
    options: dict[str, Any] = {}
    if settings.tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.check_hostname = False
        try:
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{settings.tls_cert}: cannot load certificate and key") from exc
        if settings.tls_client_ca is not None:
            try:
                context.load_verify_locations(cafile=settings.tls_client_ca)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"{settings.tls_client_ca}: cannot load the CA") from exc
            context.verify_mode = ssl.CERT_REQUIRED
            options["require_starttls"] = True
        options["tls_context"] = context
    elif settings.tls_client_ca is not None:
        raise ConfigError("tls_client_ca needs tls_cert: client certificates come with TLS")
    if settings.auth_users is not None:
        if settings.tls_cert is None:
            raise ConfigError("auth_users needs tls_cert: AUTH is offered only over TLS")
        options["authenticator"] = Authenticator(load_users(settings.auth_users))
        options["auth_required"] = settings.require_auth
    return options


async def _import_if_changed(store: Store, path: Path) -> None:
    """Import the register given at start, unless the store already has the same one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read register ({exc.strerror})") from exc
    register = parse_register(text, str(path))
    if register == await store.load_register():
        log.info("register unchanged", version=await store.register_version())
        return
    version = await store.import_register(text, str(path))
    await record_event(
        store,
        SERVE_ACTOR,
        "register-import",
        f"register:{version}",
        f"{path.name}: {len(register.cases)} cases",
    )
    log.info("register imported", version=version)


async def _drain(handler: GatewayHandler) -> None:
    """Let messages in DATA finish (bounded), while new clients are told 421."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while handler.counters.in_flight:
                await asyncio.sleep(0.05)


async def _watch(
    store: Store,
    settings: Settings,
    policy: Policy,
    scanner: Scanner,
    metrics: Metrics,
    pool: UpstreamPool,
) -> None:
    """Pick up a register import without a restart; keep the quarantine gauge fresh;
    let go of upstream connections idle for too long."""
    while True:
        pool.prune()
        metrics.register_version.set(scanner.core.version)
        metrics.held.set(await store.count_held())
        await asyncio.sleep(WATCH_SECONDS)
        if await store.register_version() != scanner.core.version:
            try:
                new = await load_core(store, settings, policy)
            except WorkerLost:
                log.error("register version not loaded; the one in force stays")
                continue
            old, scanner.core = scanner.core, new
            scanner.retire(old)
