"""``gateway serve`` and ``gateway milter``: store, register index, scanner pool and
the SMTP server, the milter server or both, run together.

One ``asyncio.TaskGroup`` owns the servers and the register watcher; SIGTERM stops new
connections (421; the milter answers 4xx), lets in-flight messages finish, then closes
the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import socket
import ssl
from pathlib import Path
from typing import Any

import structlog

from gateway import workers
from gateway.console import Console, ConsoleSettings, serve_console
from gateway.console.oidc import oidc_settings
from gateway.envelope import Envelope
from gateway.errors import ConfigError, WorkerLost
from gateway.listeners import Listeners
from gateway.match import build_index
from gateway.metrics import Metrics, observe_relay, serve_http
from gateway.milter.server import MilterLimits, MilterServer
from gateway.policy import Policy, default_policy_dir, load_policy
from gateway.register.diff import canonical, shrink_refusal
from gateway.register.load import read_register_file
from gateway.relay import UpstreamPool, upstream_config
from gateway.review import Notifier, Review, record_event
from gateway.review.siem import SyslogSink, parse_target
from gateway.review.upkeep import audit_policy, upkeep
from gateway.scan import ScanResult, ScanSettings
from gateway.scanner import Core, Scanner
from gateway.settings import Settings
from gateway.smtp.auth import Authenticator, load_users
from gateway.smtp.handler import GatewayHandler, Holder
from gateway.smtp.server import Gate, GatewaySMTP
from gateway.stamp import Stamp
from gateway.store import HeldMessage, Store, StoreError
from gateway.store.opening import open_settings_store, store_keys
from gateway.store.registers import Origin

log = structlog.get_logger("gateway.service")
WATCH_SECONDS = 2.0
DRAIN_SECONDS = 60.0
NOTICE_SECONDS = 10.0  # at shutdown, for the held-mail notices under way
SERVE_ACTOR = "system:serve"
NOT_FROM_FILE = (
    "never imported into this store, which has a register from elsewhere; that one stays "
    "(import the file with `gateway register import FILE` to use it)"
)


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
    """The newest register version, parsed and indexed, ready to scan but not yet in
    force (``Scanner.install`` puts it there): for scan processes, built in a builder
    process (so the server's event loop never holds the GIL for it, nor keeps the
    parse's memory) and held by every worker; for scan threads, built in a thread."""
    source = await store.register_source()
    if source is None:
        raise ConfigError(
            "no register imported yet: pass --register FILE or run 'gateway register import FILE'"
        )
    origin = await store.register_origin(source.version)
    scan_settings = ScanSettings(settings.internal_domains, settings.scan_limits())
    if settings.scan_processes > 0:
        built = await workers.build_in_process(source, store)
        pool = await workers.start_pool(
            settings.scan_processes,
            built,
            settings.policies or default_policy_dir(),
            settings.internal_domains,
            scan_settings.limits,
            version=source.version,
        )
        return Core(None, policy, scan_settings, source.version, pool, built.cases, origin)
    register = await asyncio.to_thread(source.parse)
    index = await asyncio.to_thread(build_index, register.cases, register.protected_locations)
    cases = len(register.cases)
    return Core(index, policy, scan_settings, source.version, None, cases, origin)


async def run(settings: Settings, smtp_proxy: bool = True) -> None:
    """Serve until SIGTERM or SIGINT: the SMTP proxy unless ``smtp_proxy`` is false, and
    the milter if ``settings.milter`` is set.  The sockets are bound first: a port in use
    stops the start before a key, a store or an import is made."""
    listeners = Listeners.bind(settings, smtp_proxy)
    try:
        keys, created = store_keys(settings, create=True)
        if created:
            log.warning("created a new master key", path=str(settings.key_path))
        store = await open_settings_store(settings, keys)
        sink = None
        if settings.audit_syslog:
            sink = SyslogSink(parse_target(settings.audit_syslog), settings.hostname)
            store.audit_sink = sink
        try:
            await _serve(store, settings, listeners)
        finally:
            if sink is not None:
                await sink.close()
            await store.close()
    finally:
        listeners.close()


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
    waiting = 1
    if notifier.settings.review_team:  # the count is for the team's notice only
        with contextlib.suppress(StoreError):
            waiting = await store.count_held()
    await notifier.held(message, waiting)


async def _serve(store: Store, settings: Settings, listeners: Listeners) -> None:
    review = Review.from_settings(store, settings)
    policy_dir, policy = await _start_with(store, settings, review)
    metrics = Metrics()
    review.on_decision = metrics.time_to_decision.observe
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
        Stamp.from_settings(settings),
    )
    gate = Gate(settings.trusted_networks, settings.max_connections, settings.session_timeout)
    milter = MilterServer(
        scanner, _holder(review, background), _milter_limits(settings), review.stamp
    )
    metrics.connections.set_function(lambda: gate.active + milter.active)
    console_socket = listeners.console
    servers = []
    if listeners.smtp is not None:
        servers.append(await _smtp_server(settings, handler, gate, listeners.smtp))
    if listeners.milter is not None:
        servers.append(await milter.serve(listeners.milter))
        log.info("milter listening", path=settings.milter)
    stop = _stop_on_signals()
    http = None
    if listeners.metrics is not None:
        http = await serve_http(
            listeners.metrics, metrics, lambda: not gate.draining and metrics.store_reachable
        )
    console_settings = _console_settings(settings)  # a ConfigError here, before any task
    async with asyncio.TaskGroup() as tasks:
        watcher = tasks.create_task(_watch(store, settings, policy, scanner, metrics, pool))
        chores = tasks.create_task(
            upkeep(
                review,
                review.notifier,
                settings.retention_days,
                settings.digest_hour,
                lambda ok: metrics.audit_chain_intact.set(int(ok)),
            )
        )
        if console_socket is not None:
            console = Console(review, console_settings, policy, policy_dir)
            tasks.create_task(_console(console, console_socket, stop, settings))
        await stop.wait()
        gate.draining = milter.draining = True
        await _drain(handler, milter)
        watcher.cancel()
        chores.cancel()
        await _finish_notices(background, NOTICE_SECONDS)
    await _close(servers, pool, http, scanner)


async def _start_with(store: Store, settings: Settings, review: Review) -> tuple[Path, Policy]:
    """Import the register given at start if it is new or changed, say which version is
    current and where it came from; load the policy, audit a policy change."""
    if settings.register is not None:
        await import_at_start(store, settings.register, settings)
    current = await store.register_info()
    if current is not None:
        log.info(
            "register current",
            version=current.version,
            action=current.action,
            source=current.source or "-",
            cases=current.cases,
        )
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


def _milter_limits(settings: Settings) -> MilterLimits:
    """The SMTP proxy's bounds, for the milter: a verdict within the scan's wait plus
    the upstream's (for the quarantine write)."""
    return MilterLimits(
        idle_timeout=settings.idle_timeout,
        verdict_timeout=settings.scan_timeout + settings.upstream_timeout,
        max_message_bytes=settings.max_message_bytes,
        max_connections=settings.max_connections,
    )


async def _close(
    servers: list[asyncio.Server],
    pool: UpstreamPool,
    http: asyncio.Server | None,
    scanner: Scanner,
) -> None:
    """After the drain: stop listening, let go of the upstream, stop the scan workers."""
    for server in servers:
        server.close()
    await pool.close()
    if http is not None:
        http.close()
    await scanner.close()
    log.info("stopped")


async def _smtp_server(
    settings: Settings, handler: GatewayHandler, gate: Gate, sock: socket.socket
) -> asyncio.Server:
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
        sock=sock,
    )
    log.info("listening", path=f"{settings.listen[0]}:{settings.listen[1]}")
    return server


def _console_settings(settings: Settings) -> ConsoleSettings:
    return ConsoleSettings(
        settings.console_idle_timeout,
        settings.console_session_lifetime,
        settings.scan_limits(),
        settings.register_max_shrink,
        settings.register_keep_versions,
        settings.console_require_totp,
        settings.console_local_login,
        oidc_settings(settings),
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


async def import_at_start(store: Store, path: Path, settings: Settings) -> None:
    """The register file given at start, imported if new or changed; nodes starting
    together with the same file take turns: one imports, the others find it imported."""
    while True:
        async with store.job("register-at-start") as mine:
            if mine:
                await _import_if_changed(store, path, settings)
                return
        await asyncio.sleep(0.2)


async def _import_if_changed(store: Store, path: Path, settings: Settings) -> None:
    """Import the register file given at start only when the store has no register, or
    when the file changed since it was last imported from it: so a restart never puts
    back an old file over a newer version from the CLI or the console.  A change goes
    through the import's shrink guard: a start that would remove too much fails."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read register ({exc.strerror})") from exc
    where = str(path.resolve())
    current = await store.register_info()
    last = await store.last_file_import(where, str(path))
    if current is not None and (last is None or last.digest == digest):
        if last is None:  # the store's register came from elsewhere: it stays
            log.warning("register file not imported", path=where, reason=NOT_FROM_FILE)
        else:
            log.info("register unchanged", version=current.version, path=where)
        return
    file = await asyncio.to_thread(read_register_file, path)
    base, diff = await store.compare_register(file.register)
    refusal = shrink_refusal(diff, settings.register_max_shrink) if base else None
    if refusal:
        raise ConfigError(
            f"{path}: not imported at start: against register version {base}, {refusal}. "
            f"Check the file; import it anyway with `gateway register import --allow-shrink "
            f"{path}`, or start without --register to keep version {base}"
        )
    if base and diff.empty:
        await store.remember_file(where, digest, base)
        log.info("register unchanged", version=base, path=where)
        return
    origin = Origin(SERVE_ACTOR, "import", where, digest, file=where)
    version = await store.save_register(
        file.text,
        file.format,
        len(file.register.cases),
        origin,
        after=base,
        keep=settings.register_keep_versions,
        canonical_text=await asyncio.to_thread(canonical, file.register),
    )
    reason = f"{path.name}: {diff.counts()}"
    await record_event(store, SERVE_ACTOR, "register-import", f"register:{version}", reason)
    log.info("register imported", version=version, path=where)


async def _drain(handler: GatewayHandler, milter: MilterServer) -> None:
    """Let messages in DATA or being judged for the milter finish (bounded), while new
    clients are told 421 (4xx by the milter)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while handler.counters.in_flight or milter.counters.in_flight:
                await asyncio.sleep(0.05)


async def _watch(
    store: Store,
    settings: Settings,
    policy: Policy,
    scanner: Scanner,
    metrics: Metrics,
    pool: UpstreamPool,
) -> None:
    """Pick up a register import without a restart; record the version in force and
    a heartbeat in the store, for ``register import --wait`` and the console; keep
    the quarantine gauge fresh; let go of upstream connections idle for too long."""
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_record_in_force(store, scanner))
        tasks.create_task(_heartbeat(store))
        while True:
            pool.prune()
            try:
                metrics.held.set(await store.count_held())
                oldest = await store.oldest_held()
                metrics.oldest_held_at = None if oldest is None else oldest.timestamp()
                metrics.store_seen(True)
                await store.wait_for_change(WATCH_SECONDS)
                if await store.register_version() > scanner.core.version:
                    scanner.install(await load_core(store, settings, policy))
            except WorkerLost:
                log.error("register version not loaded; the one in force stays")
            except StoreError as exc:  # a database outage: the next round tries again
                metrics.store_seen(False)
                log.error("store unreachable; the register in force stays", error=str(exc))
                await asyncio.sleep(WATCH_SECONDS)


async def _record_in_force(store: Store, scanner: Scanner) -> None:
    """Record each version the scanner puts in force, once it is (and again after a
    failed write, at the next watch)."""
    recorded = None
    while True:
        scanner.switched.clear()
        core = scanner.core
        if core.version != recorded:
            try:
                await store.record_in_force(core.version, core.source)
                recorded = core.version
            except StoreError as exc:
                log.error("register version in force not recorded", error=str(exc))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WATCH_SECONDS):
                await scanner.switched.wait()


async def _heartbeat(store: Store) -> None:
    """Say in the store, every ``WATCH_SECONDS``, that this gateway runs; and that it
    stopped, when it stops."""
    try:
        while True:
            try:
                await store.beat(WATCH_SECONDS)
            except StoreError as exc:
                log.error("heartbeat not recorded", error=str(exc))
            await asyncio.sleep(WATCH_SECONDS)
    finally:
        with contextlib.suppress(StoreError):
            await store.end_heartbeat()
