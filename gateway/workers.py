"""Scanning in worker processes, so that scans use every core, not one GIL.

Each worker builds its own index from the register when it starts (the forkserver
gives it a clean process, with no threads or sockets of the server's), then scans
the envelopes it is sent over its own socket pair.  The event loop reads and writes
those sockets itself: a scan costs the server one pickle each way and no hand-off
between threads (a ``ProcessPoolExecutor`` passes every job through two helper
threads, which contend for the GIL with the SMTP server).  A new register version
gets a new pool; a pool whose worker died is replaced by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import pickle
import socket
import struct
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

from gateway.envelope import Envelope
from gateway.errors import WorkerLost
from gateway.match import build_index
from gateway.policy import load_policy
from gateway.scan import ScanResult, ScanSettings, scan
from gateway.store.registers import RegisterSource

_LENGTH = struct.Struct("!Q")
_READY = b"ready"
STOP_SECONDS = 10.0


# --- in the worker process -----------------------------------------------------------------


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


def _serve(sock: socket.socket) -> None:
    """A worker's life: read its start frame (the register's text, the policy folder,
    the internal domains), parse the register and build the index, say ready with the
    number of cases, then scan until the socket closes."""
    with sock:
        start = _read_frame(sock)
        if start is None:
            return
        source, policy_dir, internal_domains = pickle.loads(start)  # noqa: S301 - ours
        register = source.parse()
        index = build_index(register.cases, register.protected_locations)
        policy = load_policy(Path(policy_dir))
        settings = ScanSettings(internal_domains=internal_domains)
        ready = pickle.dumps((_READY, len(register.cases)))
        del start, source, register
        # What lives as long as the worker (the index's sets and records) is left out
        # of every later garbage collection, so none pauses a scan to walk it.
        gc.collect()
        gc.freeze()
        sock.sendall(_LENGTH.pack(len(ready)) + ready)
        while (frame := _read_frame(sock)) is not None:
            envelope: Envelope = pickle.loads(frame)  # noqa: S301 - from our own server
            reply = pickle.dumps(scan(envelope, index, policy, settings))
            sock.sendall(_LENGTH.pack(len(reply)) + reply)


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

    def submit(self, data: bytes) -> asyncio.Future[bytes]:
        answer = asyncio.get_running_loop().create_future()
        self.pending.append(answer)
        self.writer.write(_LENGTH.pack(len(data)) + data)
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
        if self.broken:
            raise WorkerLost("scan process died")
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
        """Let the scans under way finish (within ``STOP_SECONDS``), then stop."""
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


async def start_pool(
    processes: int, source: RegisterSource, policy_dir: Path, internal_domains: tuple[str, ...]
) -> ScanPool:
    """A pool whose every worker has parsed the register and built its index before
    the first message.  The register goes as text over each worker's socket: nothing
    here parses, pickles or keeps it (a process argument would stay alive with the
    process object)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["gateway.workers"])
    start = pickle.dumps((source, str(policy_dir), internal_domains))
    workers: list[_Worker] = []
    cases = 0
    try:
        for _ in range(processes):
            ours, theirs = socket.socketpair()
            process = context.Process(target=_serve, args=(theirs,), name="gateway-scan")
            process.daemon = True
            await asyncio.to_thread(process.start)
            theirs.close()
            reader, writer = await asyncio.open_connection(sock=ours)
            workers.append(_Worker(process, reader, writer))
            writer.write(_LENGTH.pack(len(start)) + start)
            await writer.drain()
        for worker in workers:
            ready, count = pickle.loads(await worker.read_frame())  # noqa: S301 - ours
            if ready != _READY:
                raise WorkerLost
            cases = count
    except (OSError, asyncio.IncompleteReadError, WorkerLost) as exc:
        for worker in workers:
            worker.process.kill()
        await _stop(workers)
        raise WorkerLost("a scan process did not start (see its error above)") from exc
    return ScanPool(workers, cases)
