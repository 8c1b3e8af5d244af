"""Milter benchmark: Postfix alone, with an accept-all milter, and with the gateway's.

``python -m benchmarks.milter`` (also ``python -m benchmarks --milter``).  One private
Postfix on 127.0.0.1 relays to ``smtp-sink``; it has three smtpd listeners, the same
but for ``smtpd_milters``:

* postfix alone  - no milter;
* accept-all     - a milter on the gateway's protocol layer (``gateway.milter.protocol``,
                   asyncio, its own process) that negotiates as the gateway does and
                   accepts every message without looking at it;
* gateway milter - ``gateway milter --listen inet:...`` with a synthetic register
                   (100,000 cases unless ``--cases`` says otherwise).

For each: ``smtp-source`` sends N messages of ~10 KB over 20 connections (closed loop)
and the rate is N over the time until ``smtp-sink`` has counted the last of them;
then a client of our own (``benchmarks.smtp_load``'s, aiosmtplib) sends messages over
the same connections to time each one from MAIL to the reply to the final dot, for
p50/p99 and the latency added over Postfix alone (``smtp-source`` gives no per-message
time).  Lost = messages answered 250 - messages the sink counted - messages the milter
held (Postfix's ``milter-discard``, checked against the gateway's quarantine at the
end).  Last, an open-loop run of Postfix alone and the gateway milter at half the
gateway's measured peak, for the p99 latency added at half load.  Targets: gateway >=
0.6x the accept-all milter's throughput, p99 added <= 20 ms at half load, 0 lost.

Needs root (a private Postfix; ``smtp-sink -u nobody``) and the ``postfix`` package.
Everything runs on loopback in a temporary folder, and is stopped and removed at the
end, on errors and on Ctrl-C.  Figures vary with the machine; on a small one Postfix,
the load generators, the sink and the milter share the cores: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.smtp_load import (
    CORPUS,
    GATEWAY,
    INTERNAL,
    SENDER,
    TARGET_HALF_P99_MS,
    TARGET_RATIO,
    Result,
    cpu_seconds,
    free_port,
    load,
    stop_gateway,
    write_register,
)

HOST = "127.0.0.1"
TOOLS_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/usr/lib/postfix/sbin"
MESG = re.compile(rb"mesg=(\d+)")
COUNTER = re.compile(rb"(\d+)\r")


def tool(name: str) -> str:
    found = shutil.which(name, path=TOOLS_PATH)
    if found is None:
        raise RuntimeError(f"{name} not found: install the postfix package")
    return found


def available() -> str | None:
    """Why the benchmark cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (a private Postfix, smtp-sink -u nobody)"
    for name in ("postfix", "postqueue", "smtp-sink", "smtp-source"):
        if shutil.which(name, path=TOOLS_PATH) is None:
            return f"{name} not installed (the postfix package)"
    if not Path("/etc/postfix/master.cf").is_file():
        return "/etc/postfix missing (the postfix package)"
    return None


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
        return True
    return False


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- the accept-all milter: the gateway's protocol layer, no scan ---------------------------


def _accept_all_main(port: int, ready: Any) -> None:
    """Negotiate as the gateway does; continue where a reply is due; accept every
    message at end of message."""
    from gateway.milter import protocol
    from gateway.milter.server import quick_ack

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = protocol.Decoder()
        agreed: protocol.Negotiation | None = None
        try:
            while data := await reader.read(65536):
                quick_ack(writer)
                for command in decoder.feed(data):
                    if isinstance(command, protocol.OptNeg):
                        agreed = protocol.negotiate(command)
                        writer.write(agreed.reply)
                    elif isinstance(command, protocol.Quit):
                        return
                    elif agreed is None or agreed.needs_reply(command):
                        end = isinstance(command, protocol.EndOfMessage)
                        writer.write(protocol.accept() if end else protocol.continue_())
                await writer.drain()
        except (protocol.ProtocolError, ConnectionError):
            return
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, HOST, port, backlog=256)
        ready.set()
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(serve())


# --- smtp-sink, counting -------------------------------------------------------------------


class Sink:
    """``smtp-sink -c`` on ``port``: its running message count, read from its output."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.count = 0
        self.changed = time.monotonic()
        self._lock = threading.Lock()
        self._reached: list[tuple[int, threading.Event, list[float]]] = []
        args = [tool("smtp-sink"), "-4", "-c", "-u", "nobody", f"{HOST}:{port}", "256"]
        self.proc = subprocess.Popen(  # noqa: S603 - Postfix's own tool
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: self.proc.poll() is not None or port_open(port), 10, "smtp-sink")
        if self.proc.poll() is not None:
            raise RuntimeError("smtp-sink exited at start")

    def _read(self) -> None:
        """Each update is ``sess=N quit=N mesg=N`` then CR; keep the last count."""
        assert self.proc.stdout is not None
        tail = b""
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            now = time.monotonic()
            found = MESG.findall(tail + chunk)
            tail = (tail + chunk)[-64:]
            if not found:
                continue
            with self._lock:
                count = int(found[-1])
                if count != self.count:
                    self.count, self.changed = count, now
                for target, event, when in self._reached:
                    if count >= target and not event.is_set():
                        when.append(now)
                        event.set()

    def when(self, target: int) -> tuple[threading.Event, list[float]]:
        """An event set (with the time in the list) once the count reaches ``target``."""
        event, when = threading.Event(), list[float]()
        with self._lock:
            self._reached.append((target, event, when))
            if self.count >= target:
                when.append(self.changed)
                event.set()
        return event, when

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# --- a private Postfix with three listeners ------------------------------------------------

MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def main_cf(root: Path, sink_port: int) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
inet_interfaces = {HOST}
inet_protocols = ipv4
myhostname = bench.localdomain
mydestination =
local_recipient_maps =
relay_domains =
mynetworks = 127.0.0.0/8
relayhost = [{HOST}]:{sink_port}
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
smtp_tls_security_level = none
smtpd_tls_security_level = none
biff = no
# no DNS, no reverse lookups, no throttling: relay as fast as the sink takes it
smtp_host_lookup = native
disable_dns_lookups = yes
smtpd_peername_lookup = no
in_flow_delay = 0
default_process_limit = 200
default_destination_concurrency_limit = 20
smtp_destination_concurrency_limit = 20
initial_destination_concurrency = 20
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
bounce_queue_lifetime = 0
# as deploy/postfix: a milter that fails or is down means 4xx, never mail let through
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 5s
"""


@dataclass
class Postfix:
    """A throwaway Postfix in ``root``: smtpd listeners without a milter, with the
    accept-all milter and with the gateway's, all relaying to the sink."""

    root: Path
    sink_port: int
    ports: dict[str, int]  # listener name -> port
    milters: dict[str, int]  # listener name -> milter port (absent: no milter)
    started: bool = False
    _log_offset: int = 0

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    def create(self) -> None:
        self.root.mkdir(parents=True)
        self.root.chmod(0o755)
        shutil.copytree("/etc/postfix", self.etc)
        (self.etc / "main.cf").write_text(main_cf(self.root, self.sink_port))
        master = MASTER_CF
        for name, port in self.ports.items():
            milter = self.milters.get(name)
            milters = f"inet:{HOST}:{milter}" if milter else ""
            master += (
                f"{HOST}:{port} inet n - n - - smtpd\n"
                f"  -o syslog_name=postfix/{name}\n"
                f"  -o smtpd_milters={milters}\n"
            )
        (self.etc / "master.cf").write_text(master)
        (self.root / "queue").mkdir()
        (self.root / "data").mkdir()
        shutil.chown(self.root / "data", user="postfix")

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - Postfix's own command
            [tool("postfix"), "-c", str(self.etc), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        for step in ("check", "start"):
            done = self._postfix(step)
            if done.returncode != 0:
                raise RuntimeError(f"postfix {step} failed:\n{done.stderr}{self.log_tail()}")
            self.started = step == "start"
        for port in self.ports.values():
            wait_for(lambda p=port: port_open(p), 30, f"Postfix on port {port}")

    def master_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        return None

    def stop(self) -> None:
        """``postfix stop``; then master and whatever it left running are killed."""
        if not self.started:
            return
        pid = self.master_pid()
        children = _descendants(pid) if pid else []
        self._postfix("stop")
        if pid is not None:
            with contextlib.suppress(RuntimeError):
                wait_for(lambda: not _alive(pid), 15, "Postfix to stop", 0.1)
            for stray in [pid, *children]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stray, signal.SIGKILL)
        self.started = False

    def queued(self) -> int:
        done = subprocess.run(  # noqa: S603 - Postfix's own command
            [tool("postqueue"), "-c", str(self.etc), "-j"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return sum(1 for line in done.stdout.splitlines() if line.strip())

    def new_log(self) -> str:
        """The maillog written since the last call."""
        path = self.root / "maillog"
        if not path.exists():
            return ""
        with path.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read()
        self._log_offset += len(text)
        return text.decode("utf-8", "replace")

    def log_tail(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        found = [child for child, parent in parents.items() if parent == current]
        out += found
        todo += found
    return out


# --- everything started for a run ----------------------------------------------------------


@dataclass
class Rig:
    """Sink, Postfix, the accept-all milter and the gateway; ``stop`` ends them all."""

    work: Path
    sink: Sink | None = None
    postfix: Postfix | None = None
    accept_all: Any = None
    gateway: subprocess.Popen[bytes] | None = None
    held_total: int = 0

    @property
    def gateway_log(self) -> Path:
        return self.work / "gateway.log"

    def gateway_tail(self) -> str:
        path = self.gateway_log
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def pids(self) -> list[int]:
        pids = [self.sink.proc.pid] if self.sink is not None else []
        if self.accept_all is not None and self.accept_all.pid:
            pids.append(self.accept_all.pid)
        if self.gateway is not None:
            pids.append(self.gateway.pid)
        master = self.postfix.master_pid() if self.postfix is not None else None
        return [*pids, *([master] if master else [])]

    def stop(self) -> None:
        if self.gateway is not None:
            stop_gateway(self.gateway)
        if self.postfix is not None:
            self.postfix.stop()
        if self.accept_all is not None and self.accept_all.is_alive():
            self.accept_all.terminate()
            self.accept_all.join(5)
            if self.accept_all.is_alive():
                self.accept_all.kill()
                self.accept_all.join(5)
        if self.sink is not None:
            self.sink.stop()


def start(rig: Rig, cases: int, start_timeout: float) -> tuple[float, float]:
    """Start everything; (seconds to write the register, seconds until the gateway
    milter listened)."""
    sink_port, alone, accepting, gated, accept_port, gateway_port = (free_port() for _ in range(6))
    rig.sink = Sink(sink_port)
    context = mp.get_context("spawn")
    ready = context.Event()
    rig.accept_all = context.Process(
        target=_accept_all_main, args=(accept_port, ready), daemon=True
    )
    rig.accept_all.start()
    process = rig.accept_all
    wait_for(lambda: ready.is_set() or not process.is_alive(), 60, "the accept-all milter")
    if not ready.is_set():
        raise RuntimeError("the accept-all milter exited at start")
    started = time.monotonic()
    register = rig.work / "register.json"
    write_register(register, cases)
    written = time.monotonic() - started
    rig.postfix = Postfix(
        rig.work / "postfix",
        sink_port,
        {"alone": alone, "accept-all": accepting, "gateway": gated},
        {"accept-all": accept_port, "gateway": gateway_port},
    )
    rig.postfix.create()
    rig.postfix.start()
    command = [
        str(GATEWAY),
        "milter",
        "--listen",
        f"inet:{HOST}:{gateway_port}",
        "--upstream",
        f"{HOST}:{alone}",  # releases re-enter Postfix where no milter runs
        "--data-dir",
        str(rig.work / "data"),
        "--register",
        str(register),
        "--internal-domain",
        INTERNAL,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    started = time.monotonic()
    with rig.gateway_log.open("ab") as log:
        rig.gateway = subprocess.Popen(  # noqa: S603 - our own command line
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=rig.work,
            env=env,
            start_new_session=True,
        )
    gateway = rig.gateway
    wait_for(
        lambda: gateway.poll() is not None or port_open(gateway_port),
        start_timeout,
        "gateway milter to listen",
        0.2,
    )
    if gateway.poll() is not None:
        raise RuntimeError("gateway milter exited at start")
    return written, time.monotonic() - started


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Run:
    """One configuration's throughput run (smtp-source) and latency run (our client)."""

    name: str
    sent: int = 0
    accepted: int = 0  # 250 at the final dot, as smtp-source saw it
    refused: int = 0  # other replies at the final dot
    warnings: int = 0  # any other complaint of smtp-source (connection, MAIL, RCPT)
    counted: int = 0
    held: int = 0
    seconds: float = 0.0  # first connection until the sink counted the last message
    submit_seconds: float = 0.0  # until smtp-source had its last reply
    cpu: dict[str, float] = field(default_factory=dict)
    latency: Result | None = None

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        return self.accepted - self.counted - self.held

    @property
    def all_lost(self) -> int:
        return self.lost + (self.latency.lost if self.latency else 0)


def _discards(text: str) -> int:
    return text.count("milter-discard:")


def settle(rig: Rig, before: int, accepted: int, held: int, quiet: float) -> tuple[int, float]:
    """Wait until the sink has counted everything Postfix took and did not discard, or
    nothing moved for ``quiet`` seconds (``4 * quiet`` if mail is still queued); the
    sink's count since ``before``, and when it reached that count (monotonic)."""
    assert rig.sink is not None
    assert rig.postfix is not None
    event, when = rig.sink.when(before + accepted - held)
    while not event.wait(0.5):
        still = time.monotonic() - rig.sink.changed
        if (still > quiet and rig.postfix.queued() == 0) or still > 4 * quiet:
            break
    return rig.sink.count - before, when[0] if when else rig.sink.changed


def milter_pids(rig: Rig) -> dict[str, int]:
    pids = {}
    if rig.accept_all is not None and rig.accept_all.pid:
        pids["accept-all"] = rig.accept_all.pid
    if rig.gateway is not None:
        pids["gateway"] = rig.gateway.pid
    return pids


def source(rig: Rig, name: str, port: int, message: Path, count: int, connections: int) -> Run:
    """``smtp-source`` sends ``count`` copies of ``message``; the run's figures."""
    assert rig.sink is not None
    assert rig.postfix is not None
    rig.postfix.new_log()
    run = Run(name, sent=count)
    before = rig.sink.count
    pids = milter_pids(rig)
    cpu_before = {k: cpu_seconds(p) for k, p in pids.items()}
    children_before = _children_cpu()
    command = [
        tool("smtp-source"),
        "-4",
        "-A",  # go on after a refusal (counted below)
        "-c",  # a running count of completed DATA commands
        "-d",  # keep each connection for the next message
        "-N",  # a different recipient for each message
        "-s",
        str(connections),
        "-m",
        str(count),
        "-M",
        "load.test",
        "-f",
        SENDER,
        "-t",
        "someone@partner.example",
        "-F",
        str(message),
        f"{HOST}:{port}",
    ]
    started = time.monotonic()
    out = subprocess.run(  # noqa: S603 - Postfix's own tool
        command, capture_output=True, timeout=max(600.0, count / 5), check=False
    )
    run.submit_seconds = time.monotonic() - started
    text = out.stdout + out.stderr
    completed = [int(n) for n in COUNTER.findall(text)]
    lines = text.decode("utf-8", "replace").splitlines()
    run.refused = sum("end of data rejected" in line for line in lines)
    run.warnings = sum("smtp-source:" in line for line in lines) - run.refused
    run.accepted = (max(completed) if completed else 0) - run.refused
    if out.returncode != 0:
        print(f"                smtp-source exited {out.returncode}", file=sys.stderr)
    time.sleep(0.2)  # cleanup logs a discard before smtpd answers; only a margin
    run.held = _discards(rig.postfix.new_log())
    run.counted, finished = settle(rig, before, run.accepted, run.held, 10.0)
    run.held += _discards(rig.postfix.new_log())
    run.seconds = max(finished - started, run.submit_seconds)
    run.cpu = {k: cpu_seconds(p) - cpu_before[k] for k, p in pids.items()}
    run.cpu["smtp-source"] = _children_cpu() - children_before
    return run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    rig: Rig,
    name: str,
    port: int,
    messages: list[bytes],
    count: int,
    connections: int,
    rate: float | None = None,
) -> Result:
    """Our client sends ``count`` messages (closed loop, or paced at ``rate``) and times
    each; the sink's count and the milter's discards give its losses."""
    assert rig.sink is not None
    assert rig.postfix is not None
    rig.postfix.new_log()
    before = rig.sink.count
    result = asyncio.run(load(name, port, messages, count, connections, rate, 900.0))
    time.sleep(0.2)
    result.held = _discards(rig.postfix.new_log())
    result.counted, _ = settle(rig, before, result.accepted, result.held, 10.0)
    result.held += _discards(rig.postfix.new_log())
    return result


# --- the report ----------------------------------------------------------------------------


def throughput_line(run: Run, alone: Run | None, accept_all: Run | None) -> str:
    ratios = []
    if accept_all is not None and run is not accept_all and accept_all.rate:
        ratios.append(f"{run.rate / accept_all.rate:.2f}x accept-all")
    if alone is not None and run is not alone and alone.rate:
        ratios.append(f"{run.rate / alone.rate:.2f}x alone")
    ratio = f"   ({', '.join(ratios)})" if ratios else ""
    return f"{run.name:<16}{run.rate:8.0f} msg/s   lost {run.lost}{ratio}"


def throughput_details(run: Run) -> str:
    cpu = ", ".join(f"{k} {v / max(run.sent, 1) * 1000:.2f}" for k, v in run.cpu.items() if v > 0)
    return (
        f"                smtp-source: {run.accepted} x 250, {run.refused} refused, "
        f"{run.warnings} other complaints, submitted in {run.submit_seconds:.1f} s; "
        f"sink counted {run.counted}, held {run.held}; CPU ms/msg: {cpu}"
    )


def latency_line(result: Result, alone: Result | None) -> str:
    p50, p99 = result.pct(0.5), result.pct(0.99)
    added = (
        f"   added p50 {p50 - alone.pct(0.5):+6.1f} ms  p99 {p99 - alone.pct(0.99):+6.1f} ms"
        if alone is not None and alone is not result
        else ""
    )
    other = sum(v for k, v in result.codes.items() if k != "250")
    return (
        f"{'':16}latency p50 {p50:6.1f} ms  p99 {p99:6.1f} ms{added}   "
        f"({result.sent} sent, {other} not 250, lost {result.lost})"
    )


@dataclass
class Summary:
    """What a run measured, for callers (the test) and the verdict."""

    runs: list[Run]
    half: tuple[Result, Result]
    quarantined: int  # in the gateway's store at the end
    discards: int  # Postfix's milter-discard lines over the whole run
    ok: bool
    work: Path  # the temporary folder, removed by then
    pids: list[int]  # of what was started (sink, milters, Postfix's master), all ended

    @property
    def ratio(self) -> float:
        _alone, accept_all, gateway = self.runs
        return gateway.rate / accept_all.rate if accept_all.rate else 0.0

    @property
    def added_half_p99(self) -> float:
        return self.half[1].pct(0.99) - self.half[0].pct(0.99)

    @property
    def lost(self) -> int:
        return sum(run.all_lost for run in self.runs) + sum(r.lost for r in self.half)


def report(args: argparse.Namespace) -> Summary:
    """Run everything and print the figures."""
    from benchmarks import synthetic

    reason = available()
    if reason is not None:
        raise RuntimeError(f"milter benchmark: {reason}")
    total = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="milter-bench-"))
    work.chmod(0o755)
    rig = Rig(work)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        written, listening = start(rig, args.milter_cases, args.milter_start_timeout)
        distinct = synthetic.messages(CORPUS, max(1, args.milter_distinct))
        messages = [m.replace(b"\n", b"\r\n") for m in distinct]
        message = work / "message.eml"
        message.write_bytes(distinct[0])  # smtp-source adds CRLF to each line itself
        n, c = args.milter_messages, args.milter_connections
        print(
            f"\n== milter: {n:,} messages of ~10 KB over {c} connections, smtp-source -> "
            f"Postfix -> smtp-sink; {args.milter_cases:,}-case register =="
        )
        print(
            f"register JSON written in {written:.1f} s; gateway milter listening after "
            f"{listening:.1f} s (import, validate, index)"
        )
        sys.stdout.flush()
        runs = _peak(rig, message, messages, args)
        half = _half(rig, messages, args, runs[2].rate / 2)
        quarantined = _quarantined(rig)
        print(
            f"quarantine      {quarantined} held in the gateway's store; Postfix logged "
            f"{rig.held_total} milter discards"
        )
        ok = _verdict(runs, half, quarantined == rig.held_total)
        print(f"milter benchmark took {time.monotonic() - total:.0f} s")
        return Summary(runs, half, quarantined, rig.held_total, ok, work, rig.pids())
    except BaseException:
        if rig.postfix is not None:
            print(f"Postfix maillog (tail):\n{rig.postfix.log_tail()}", file=sys.stderr)
        tail = rig.gateway_tail()
        if tail:
            print(f"gateway log (tail):\n{tail}", file=sys.stderr)
        raise
    finally:
        rig.stop()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _peak(rig: Rig, message: Path, messages: list[bytes], args: argparse.Namespace) -> list[Run]:
    """Closed loop: smtp-source for throughput, our client for latency, per listener."""
    assert rig.postfix is not None
    n, c = args.milter_messages, args.milter_connections
    latency_count = args.milter_latency_messages or n
    runs: list[Run] = []
    for name, listener in (
        ("postfix alone", "alone"),
        ("accept-all", "accept-all"),
        ("gateway milter", "gateway"),
    ):
        port = rig.postfix.ports[listener]
        warm = source(rig, name, port, message, min(100, n), c)  # processes, caches
        rig.held_total += warm.held
        run = source(rig, name, port, message, n, c)
        rig.held_total += run.held
        run.latency = timed(rig, name, port, messages, latency_count, c)
        rig.held_total += run.latency.held
        alone = runs[0] if runs else None
        print(throughput_line(run, alone, runs[1] if len(runs) > 1 else None))
        print(throughput_details(run))
        print(latency_line(run.latency, alone.latency if alone else None))
        sys.stdout.flush()
        runs.append(run)
    alone, accept_all, gateway = runs
    print(
        f"ratios          gateway/accept-all {gateway.rate / accept_all.rate:.2f}x, "
        f"gateway/alone {gateway.rate / alone.rate:.2f}x, "
        f"accept-all/alone {accept_all.rate / alone.rate:.2f}x"
    )
    return runs


def _half(
    rig: Rig, messages: list[bytes], args: argparse.Namespace, rate: float
) -> tuple[Result, Result]:
    """Open loop at ``rate`` (half the gateway milter's peak): Postfix alone, then
    through the gateway milter."""
    assert rig.postfix is not None
    count = max(200, int(rate * args.milter_half_seconds))
    c = args.milter_connections
    print(f"-- open loop at half the gateway's peak: {rate:.0f} msg/s, {count:,} messages --")
    alone = timed(rig, "alone (half)", rig.postfix.ports["alone"], messages, count, c, rate=rate)
    rig.held_total += alone.held
    print(f"{alone.name:<16}" + latency_line(alone, None).lstrip())
    gateway = timed(
        rig, "gateway (half)", rig.postfix.ports["gateway"], messages, count, c, rate=rate
    )
    rig.held_total += gateway.held
    print(f"{gateway.name:<16}" + latency_line(gateway, alone).lstrip())
    late = sorted(gateway.lags)
    if late:
        print(
            f"                {len(late)} sends started after their due time "
            f"(max {late[-1] * 1000:.1f} ms late)"
        )
    return alone, gateway


def _quarantined(rig: Rig) -> int:
    """Messages in the gateway's quarantine (read once it has stopped)."""
    from gateway.crypto import KeyRing
    from gateway.store import Store

    if rig.gateway is not None and rig.gateway.poll() is None:
        rig.gateway.send_signal(signal.SIGTERM)
        rig.gateway.wait(60)
    data = rig.work / "data"

    async def count() -> int:
        keys, _ = KeyRing.for_store(data / "master.key", data / "gateway.sqlite3")
        store = await Store.open(data / "gateway.sqlite3", keys)
        try:
            return await store.count_held()
        finally:
            await store.close()

    return asyncio.run(count())


def _verdict(runs: list[Run], half: tuple[Result, Result], held_agree: bool) -> bool:
    _alone, accept_all, gateway = runs
    ratio = gateway.rate / accept_all.rate if accept_all.rate else 0.0
    added = half[1].pct(0.99) - half[0].pct(0.99)
    lost = sum(run.all_lost for run in runs) + sum(r.lost for r in half)
    ok_ratio, ok_half, ok_lost = ratio >= TARGET_RATIO, added <= TARGET_HALF_P99_MS, lost == 0
    print(
        f"target          gateway milter >= {TARGET_RATIO}x the accept-all milter's "
        f"throughput: {ratio:.2f}x {'met' if ok_ratio else 'NOT met'}"
    )
    print(
        f"target          p99 added latency <= {TARGET_HALF_P99_MS:.0f} ms at half of peak: "
        f"{added:.1f} ms {'met' if ok_half else 'NOT met'}"
    )
    print(
        f"target          lost messages = 0: {lost} {'met' if ok_lost else 'NOT met'}"
        + ("" if held_agree else " (quarantine and Postfix's discards disagree)")
    )
    return ok_ratio and ok_half and ok_lost and held_agree


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "milter-") -> None:
    """The options; ``python -m benchmarks`` names them ``--milter-*``."""
    group = parser.add_argument_group("milter benchmark")

    def option(name: str, **kwargs: Any) -> None:
        group.add_argument(f"--{prefix}{name}", dest=f"milter_{name.replace('-', '_')}", **kwargs)

    option("messages", type=int, default=10_000, help="messages per configuration")
    option("connections", type=int, default=20)
    option("cases", type=int, default=100_000, help="synthetic register size")
    option(
        "latency-messages",
        type=int,
        default=0,
        help="messages of the timed closed-loop runs (default: as --messages)",
    )
    option("distinct", type=int, default=1_000, help="distinct bodies for the timed runs")
    option("half-seconds", type=float, default=20.0, help="length of the half-load runs")
    option("start-timeout", type=float, default=300.0)


@contextlib.contextmanager
def _quiet_interrupt() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        raise SystemExit(130) from None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.milter", description=__doc__)
    add_arguments(parser, prefix="")
    args = parser.parse_args()
    with _quiet_interrupt():
        report(args)  # like the other sections: prints "NOT met", does not fail


if __name__ == "__main__":
    main()
