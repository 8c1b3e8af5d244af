"""The register's index, built in a process of its own; scanning in worker processes,
so that scans use every core, not one GIL.

A builder process parses the register and builds the index (on every core), sends it
back pickled (its arrays, records, token sets and hashing key: tens of MB per 100,000
cases) and exits, taking the parse's garbage with it: parsing leaves hundreds of MB
the allocator keeps, which a long-lived process would carry for good.  The server
keeps the index sealed on disk (``gateway.match.stored``), so that a restart with the
same register version loads it instead of building it, and hands it to each scan
worker.  The forkserver gives each a clean process, with no threads or sockets of the
server's; index keys are keyed hashes (``gateway.match.keys``) under a key derived
from the master key, which the index brings with it.

A worker scans the envelopes it is sent over its own socket pair.  The event loop
reads and writes those sockets itself: a scan costs the server one pickle each way
and no hand-off between threads (a ``ProcessPoolExecutor`` passes every job through
two helper threads, which contend for the GIL with the SMTP server).  A new register
version gets a new pool; a pool whose worker died is replaced by the caller.

Time: a scan stops by itself at its budget (``Limits.time_budget_s``, checked between
chunks of work), but not inside one long C call (a parser, a regex, a PDF renderer).
So each worker is two processes: a supervisor that holds the index and forks the
scanning child, which inherits the index (copy-on-write) and serves the socket.  When
a scan runs ``KILL_GRACE_S`` past its budget, the supervisor kills the child, answers
that scan itself (``unscannable``, "over time budget") in its turn on the socket, and
forks a new child within milliseconds, whatever the register's size.  The scans queued
behind it are still unread in the socket, so the new child answers them in order: the
server sees a slow answer, not a lost worker.  (Scan threads cannot be killed: there,
and in ``gateway scan``, the cooperative deadline is all there is.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import mmap
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from gateway.budget import OVER_TIME
from gateway.envelope import Envelope
from gateway.errors import WorkerLost
from gateway.extract import Limits
from gateway.match import Index, stored
from gateway.match import keys as K
from gateway.match.parallel import build_from_data
from gateway.policy import Policy, load_policy
from gateway.register.load import read_data
from gateway.scan import ScanResult, ScanSettings, scan, unscannable
from gateway.store.registers import RegisterSource

if TYPE_CHECKING:
    from gateway.store import Store

_LENGTH = struct.Struct("!Q")
_STARTED = struct.Struct("d")
_READY = b"ready"
STOP_SECONDS = 10.0
#: how long past its budget a scan may run before its process is killed
KILL_GRACE_S = 0.5
#: how often a supervisor looks at its scanning child
WATCH_S = 0.02
_PR_SET_PDEATHSIG = 1
log = structlog.get_logger("gateway.workers")

#: the core a worker runs on each envelope (``scan``; tests give a stand-in)
ScanFunction = Callable[[Envelope, Index, Policy, ScanSettings], ScanResult]


# --- in the builder and the scan processes -------------------------------------------------


def _read_frame(sock: socket.socket) -> bytes | None:
    """One length-prefixed frame, or None at end of input (the server closed)."""
    head = _read_exactly(sock, _LENGTH.size)
    return None if head is None else _read_exactly(sock, _LENGTH.unpack(head)[0])


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _build(sock: socket.socket) -> None:
    """The builder's life: read the register's text and the hashing key, parse the
    text, validate and index its cases on every core, send the number of cases and
    the pickled index, exit."""
    with sock:
        start = _read_frame(sock)
        if start is None:
            return
        source: RegisterSource
        source, hash_key = pickle.loads(start)  # noqa: S301 - from our own server
        # This process lives for one build: the cyclic collector would only walk the
        # parse's millions of new objects again and again (80% of a 100,000-case
        # parse's time); what it would free goes when the process exits.
        gc.disable()
        if hash_key is not None:
            K.use_key(hash_key)
        index, cases = build_from_data(read_data(source.text, source.name))
        _send_frame(sock, pickle.dumps((cases, _hash_check())))
        _send_frame(sock, pickle.dumps(index, pickle.HIGHEST_PROTOCOL))


def _hash_check() -> int:
    """Equal in two processes only if they make index keys the same way (the keys'
    format; the hashing key itself comes with the index)."""
    return K.FORMAT


def _serve(sock: socket.socket) -> None:
    """A scan worker's life: read the pickled index and then its settings (the policy
    folder, the internal domains, the limits, the core to run, the register version),
    say ready, then supervise scanning children until the socket closes."""
    with sock:
        built, start = _read_frame(sock), _read_frame(sock)
        if built is None or start is None:
            return
        index: Index = pickle.loads(built)  # noqa: S301 - from our own server
        policy_dir, internal_domains, limits, core, check, version = pickle.loads(start)  # noqa: S301
        if check != _hash_check():
            raise WorkerLost("the index was built with another hash seed")
        policy = load_policy(Path(policy_dir))
        settings = ScanSettings(internal_domains=internal_domains, limits=limits)
        del built
        # What lives as long as the worker (the index's sets and records) is left out
        # of every later garbage collection, so none pauses a scan to walk it.
        gc.collect()
        gc.freeze()
        _send_frame(sock, _READY)
        job = _Job(sock, index, policy, settings, core, _Clock(), version)
        while _fork_scanner(job):
            log.warning("scan process replaced", reason=OVER_TIME)


@dataclass(frozen=True)
class _Job:
    """What a supervisor hands each scanning child (which inherits it in the fork)."""

    sock: socket.socket
    index: Index
    policy: Policy
    settings: ScanSettings
    core: ScanFunction
    clock: _Clock
    version: int  # of the register the index was built from: each answer says it

    def answer(self, result: ScanResult) -> bytes:
        """``result`` pickled for the server, with the register version that scanned it."""
        return pickle.dumps(replace(result, register_version=self.version))

    @property
    def limit(self) -> float:
        return self.settings.limits.time_budget_s + KILL_GRACE_S


class _Clock:
    """When the child's scan under way began (0.0 between scans), in memory the
    supervisor and its child share, and a lock the child holds to end a scan, which
    the supervisor holds to kill it: so a child is never killed while it answers."""

    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, _STARTED.size)  # shared and anonymous: kept on fork
        self.lock = multiprocessing.get_context("fork").Lock()

    def started(self) -> float:
        value: float = _STARTED.unpack_from(self.memory)[0]
        return value

    def set(self, started: float) -> None:
        _STARTED.pack_into(self.memory, 0, started)


def _fork_scanner(job: _Job) -> bool:
    """Run a scanning child until it ends: False when it ended by itself (the socket
    closed, or it died: the server then sees the worker lost), True when it was
    killed for running over its budget and its scan answered here."""
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        _scanner(job, parent)
    while True:
        if os.waitpid(child, os.WNOHANG)[0]:
            return False
        started = job.clock.started()
        if started and time.monotonic() - started > job.limit and _kill(job, child, started):
            return True
        time.sleep(WATCH_S)


def _kill(job: _Job, child: int, started: float) -> bool:
    """Kill ``child`` if the scan that began at ``started`` is still under way, and
    answer it as over time; False if it ended meanwhile."""
    if not job.clock.lock.acquire(timeout=1.0):
        return False  # the child died holding it: waitpid will say so
    try:
        if job.clock.started() != started:
            return False
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        elapsed_ms = (time.monotonic() - started) * 1000
        _send_frame(job.sock, job.answer(unscannable(job.policy, OVER_TIME, elapsed_ms)))
        job.clock.set(0.0)
        return True
    finally:
        job.clock.lock.release()


def _scanner(job: _Job, parent: int) -> None:
    """A scanning child's life: scan what the socket brings until it closes, marking
    each scan's start and end on the shared clock; never returns."""
    code = 0
    try:
        _die_with(parent)
        clock = job.clock
        while (frame := _read_frame(job.sock)) is not None:
            clock.set(time.monotonic())
            envelope: Envelope = pickle.loads(frame)  # noqa: S301 - from our own server
            answer = job.answer(job.core(envelope, job.index, job.policy, job.settings))
            with clock.lock:
                clock.set(0.0)
            _send_frame(job.sock, answer)
    except BaseException:  # a child must never return into its parent's code
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with(parent: int) -> None:
    """Be killed when the supervisor dies (Linux), so no scan outlives its worker."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def _send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(data)))
    sock.sendall(data)


# --- in the server -------------------------------------------------------------------------


@dataclass
class _Worker:
    """One scan process and its socket.  Scans are written to it as they come and
    answered in order, so it always has its next scan queued while the server is busy
    elsewhere; a reader task hands each answer to the scan that waits for it."""

    process: BaseProcess
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pending: deque[asyncio.Future[bytes]] = field(default_factory=deque)
    lost: bool = False
    closing: bool = False
    answers: asyncio.Task[None] | None = None

    async def read_frame(self) -> bytes:
        head = await self.reader.readexactly(_LENGTH.size)
        return await self.reader.readexactly(_LENGTH.unpack(head)[0])

    async def send(self, data: bytes) -> None:
        self.writer.writelines((_LENGTH.pack(len(data)), data))
        await self.writer.drain()

    def submit(self, data: bytes) -> asyncio.Future[bytes]:
        answer = asyncio.get_running_loop().create_future()
        self.pending.append(answer)
        self.writer.writelines((_LENGTH.pack(len(data)), data))
        return answer

    async def read_answers(self) -> None:
        try:
            while True:
                frame = await self.read_frame()
                answer = self.pending.popleft()
                if not answer.done():
                    answer.set_result(frame)
        except (OSError, asyncio.IncompleteReadError):
            self.lost = not self.closing
        if self.lost:
            self.process.kill()
        while self.pending:
            answer = self.pending.popleft()
            if not answer.done():
                answer.set_exception(WorkerLost("scan process died"))
                answer.exception()  # retrieved: the scan may have stopped waiting


@dataclass
class ScanPool:
    """Worker processes fed from the event loop, each scan to the least busy one."""

    workers: list[_Worker]
    cases: int  # in the register the workers indexed
    version: int = 0  # of that register
    closing: bool = False  # retired: scans go to the pool in force instead

    def __post_init__(self) -> None:
        for worker in self.workers:
            worker.answers = asyncio.create_task(worker.read_answers())

    @property
    def broken(self) -> bool:
        return any(w.lost for w in self.workers)

    async def scan(self, envelope: Envelope) -> ScanResult:
        """The core on one message in a worker.  Raises ``WorkerLost`` if the worker
        died, and for every scan after that (the pool is then replaced).  If the
        caller stops waiting, the worker still finishes the scan, and its answer,
        which comes in its turn, is dropped."""
        if self.broken or self.closing:
            raise WorkerLost("scan process died" if self.broken else "scan pool retired")
        worker = min(self.workers, key=lambda w: len(w.pending))
        answer = worker.submit(pickle.dumps(envelope))
        try:
            await worker.writer.drain()
            reply = await answer  # cancelled if the caller gives up: its answer is dropped
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise WorkerLost("scan process died") from exc
        result: ScanResult = pickle.loads(reply)  # noqa: S301 - from our own worker
        return result

    async def close(self) -> None:
        """Take no more scans, let those under way finish (within ``STOP_SECONDS``),
        then stop."""
        self.closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                while any(w.pending for w in self.workers):
                    await asyncio.sleep(0.05)
        await _stop(self.workers)
        await asyncio.gather(*(w.answers for w in self.workers if w.answers is not None))


async def _stop(workers: list[_Worker]) -> None:
    """Close the sockets (a worker reads the end of its input and exits) and reap."""
    for worker in workers:
        worker.closing = True
        worker.writer.close()
    await asyncio.to_thread(_join, [w.process for w in workers])


def _join(processes: list[BaseProcess]) -> None:
    for process in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(STOP_SECONDS)


@dataclass(frozen=True)
class BuiltIndex:
    """An index as the builder process sent it (or as kept on disk): pickled, with
    its register's size."""

    pickled: bytes
    cases: int
    check: int  # the builder's _hash_check()
    from_disk: bool = False


async def build_in_process(source: RegisterSource, store: Store | None = None) -> BuiltIndex:
    """``source``'s index: with a ``store``, the one sealed beside it if it is that
    version's (a restart), else built in a builder process (nothing here parses the
    register), under the store's hashing key, and sealed there for the next start."""
    if store is None:
        return await _build_in_process(source, None)

    async def build(hash_key: bytes) -> tuple[bytes, int]:
        built = await _build_in_process(source, hash_key)
        return built.pickled, built.cases

    kept = await stored.kept_or_built(source.version, source.text, store.keys, store.path, build)
    return BuiltIndex(kept.pickled, kept.cases, _hash_check(), kept.from_disk)


async def _build_in_process(source: RegisterSource, hash_key: bytes | None) -> BuiltIndex:
    """Parse and index ``source`` in a builder process, under ``hash_key`` (by
    default the builder's own random key, which the index takes with it)."""
    [builder] = await _spawn(_build, 1, "gateway-index")
    try:
        await builder.send(pickle.dumps((source, hash_key)))
        cases, check = pickle.loads(await builder.read_frame())  # noqa: S301 - ours
        return BuiltIndex(await builder.read_frame(), cases, check)
    except (OSError, asyncio.IncompleteReadError) as exc:
        builder.process.kill()
        raise WorkerLost("the index builder failed (see its error above)") from exc
    finally:
        await _stop([builder])


async def start_pool(
    processes: int,
    built: BuiltIndex,
    policy_dir: Path,
    internal_domains: tuple[str, ...],
    limits: Limits | None = None,
    core: ScanFunction = scan,
    version: int = 0,
) -> ScanPool:
    """A pool whose every worker holds the index of register ``version`` before the
    first message (it returns only once each said so); each scan within ``limits``
    (its process killed and replaced when it overruns them), its answer stamped with
    ``version``."""
    workers: list[_Worker] = []
    try:
        workers = await _spawn(_serve, processes, "gateway-scan")
        start = (str(policy_dir), internal_domains, limits or Limits(), core, built.check, version)
        settings = pickle.dumps(start)
        for worker in workers:
            await worker.send(built.pickled)
            await worker.send(settings)
        for worker in workers:
            if await worker.read_frame() != _READY:
                raise WorkerLost
    except (OSError, asyncio.IncompleteReadError, WorkerLost) as exc:
        for worker in workers:
            worker.process.kill()
        await _stop(workers)
        raise WorkerLost("a scan process did not start (see its error above)") from exc
    return ScanPool(workers, built.cases, version)


async def _spawn(target: Callable[[socket.socket], None], count: int, name: str) -> list[_Worker]:
    """``count`` processes from the forkserver, each running ``target`` on its end of
    a socket pair (only the socket is a process argument: whatever else a process
    needs goes over it, so no process object keeps it alive)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["gateway.workers"])
    out: list[_Worker] = []
    for _ in range(count):
        ours, theirs = socket.socketpair()
        process = context.Process(target=target, args=(theirs,), name=name)
        process.daemon = True
        await asyncio.to_thread(process.start)
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        out.append(_Worker(process, reader, writer))
    return out
