"""SMTP load test: the gateway against a plain relay and a direct path, in one run.

``python -m benchmarks.smtp_load`` (also ``python -m benchmarks --smtp``).  Three
targets, each fed the same ~10 KB plain messages over 20 concurrent client connections
(closed loop, as fast as they are answered), all on 127.0.0.1:

* direct   - the load generator straight to the upstream sink;
* plain    - a plain aiosmtpd relay (no scanning) that forwards to the sink with
             aiosmtplib, one upstream connection per client session, reused;
* gateway  - ``gateway serve`` with a synthetic 100k-case register.

The sink and the plain relay each run in their own process; the gateway is a
subprocess.  Prints messages/s, gateway/plain ratio, p50/p99 latency (MAIL FROM to
the reply to the final dot) and the latency added over the direct path, lost messages
(a 250 the sink never counted, less the messages the gateway held in quarantine),
then a second, open-loop run of direct and gateway at half the gateway's measured
peak rate for the p99 added latency at half load.  Figures depend on the machine: on a
small one the load generator and the sink share the cores with the server under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "ham"
GATEWAY = Path(sys.executable).with_name("gateway")
SENDER = "officer@council.example.gov.uk"
INTERNAL = "council.example.gov.uk"
TARGET_RATIO, TARGET_HALF_P99_MS = 0.6, 20.0
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# --- the sink and the plain relay: each in its own process ------------------------------


def _sink_main(port: int, counter: Any, ready: Any) -> None:
    """An SMTP server that counts messages and answers 250."""
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 Ok: delivered"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        handler = Handler()
        await loop.create_server(lambda: SMTP(handler, hostname="sink.test"), HOST, port)
        ready.set()
        await asyncio.Event().wait()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(serve())


def _relay_main(port: int, upstream: int, ready: Any) -> None:
    """A plain relay: aiosmtpd in, aiosmtplib out (one upstream session per client)."""
    import aiosmtplib
    from aiosmtpd.smtp import SMTP

    class RelaySMTP(SMTP):
        def connection_lost(self, error: Exception | None) -> None:
            smtp = getattr(self.session, "upstream", None)
            if smtp is not None and smtp.is_connected:
                smtp.close()
            super().connection_lost(error)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            smtp = getattr(session, "upstream", None)
            try:
                if smtp is None or not smtp.is_connected:
                    smtp = aiosmtplib.SMTP(
                        hostname=HOST, port=upstream, timeout=30, local_hostname="relay.test"
                    )
                    await smtp.connect()
                    session.upstream = smtp
                await smtp.sendmail(
                    envelope.mail_from, envelope.rcpt_tos, envelope.original_content
                )
            except aiosmtplib.SMTPResponseException as exc:
                return f"{exc.code} {exc.message}"
            except (aiosmtplib.SMTPException, OSError):
                return "451 4.4.1 Upstream unavailable"
            return "250 2.0.0 Ok: relayed"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        handler = Handler()
        await loop.create_server(lambda: RelaySMTP(handler, hostname="relay.test"), HOST, port)
        ready.set()
        await asyncio.Event().wait()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(serve())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (empty if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process and its live descendants (the gateway's
    scan processes), 0 if it is gone."""
    stats = {int(e): _stat(int(e)) for e in os.listdir("/proc") if e.isdigit()}
    children: dict[int, list[int]] = {}
    for child, fields in stats.items():
        if fields:
            children.setdefault(int(fields[1]), []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        fields = stats.get(current)
        if fields:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    return total


# --- the register and the gateway --------------------------------------------------------


def write_register(path: Path, size: int) -> None:
    """A ``size``-case synthetic register as JSON in the register file format."""
    from benchmarks import synthetic

    def person(p: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"name": p.name}
        if p.aliases:
            out["aliases"] = list(p.aliases)
        if p.date_of_birth is not None:
            out["date_of_birth"] = p.date_of_birth.isoformat()
        for key in ("addresses", "phones", "emails"):
            if getattr(p, key):
                out[key] = list(getattr(p, key))
        return out

    def contact(r: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"name": r.name}
        for key in ("aliases", "emails", "phones"):
            if getattr(r, key):
                out[key] = list(getattr(r, key))
        return out

    cases = [
        {
            "id": case.id,
            "protected": [person(p) for p in case.protected],
            "restricted": [contact(r) for r in case.restricted],
        }
        for case in synthetic.cases(size)
    ]
    with path.open("w", encoding="utf-8") as out:
        json.dump({"version": 1, "cases": cases}, out)


def stop_gateway(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (it finishes mail in flight), SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Servers:
    """Everything started for one run; ``stop`` ends all of it, whatever happened."""

    work: Path
    sink_port: int = 0
    relay_port: int = 0
    gateway_port: int = 0
    counter: Any = None
    processes: list[Any] = field(default_factory=list)
    gateway: subprocess.Popen[bytes] | None = None
    gateway_log: Path | None = None

    def stop(self) -> None:
        if self.gateway is not None:
            stop_gateway(self.gateway)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    def gateway_tail(self) -> str:
        if self.gateway_log is None or not self.gateway_log.exists():
            return ""
        return self.gateway_log.read_text(errors="replace")[-3000:]


def start_helpers(servers: Servers) -> None:
    context = mp.get_context("spawn")
    servers.counter = context.Value("q", 0)
    servers.sink_port, servers.relay_port = free_port(), free_port()
    for target, args in (
        (_sink_main, (servers.sink_port, servers.counter)),
        (_relay_main, (servers.relay_port, servers.sink_port)),
    ):
        ready = context.Event()
        process = context.Process(target=target, args=(*args, ready), daemon=True)
        process.start()
        servers.processes.append(process)
        if not ready.wait(30):
            raise RuntimeError(f"{target.__name__} did not start")


def start_gateway(servers: Servers, register: Path, timeout: float) -> float:
    """``gateway serve`` in front of the sink; the seconds it took to listen."""
    servers.gateway_port = free_port()
    servers.gateway_log = servers.work / "gateway.log"
    command = [
        str(GATEWAY),
        "serve",
        "--listen",
        f"{HOST}:{servers.gateway_port}",
        "--upstream",
        f"{HOST}:{servers.sink_port}",
        "--data-dir",
        str(servers.work / "data"),
        "--register",
        str(register),
        "--internal-domain",
        INTERNAL,
    ]
    started = time.monotonic()
    with servers.gateway_log.open("ab") as log:
        servers.gateway = subprocess.Popen(  # noqa: S603 - our own command line
            command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=dict(os.environ)
        )
    while time.monotonic() - started < timeout:
        if servers.gateway.poll() is not None:
            raise RuntimeError(f"gateway exited:\n{servers.gateway_tail()}")
        address = (HOST, servers.gateway_port)
        with contextlib.suppress(OSError), socket.create_connection(address, 0.2):
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"gateway did not listen within {timeout:.0f} s:\n{servers.gateway_tail()}")


def held_rows(servers: Servers) -> int:
    """Messages in the gateway's quarantine (0 when no gateway runs): read from the
    SQLite file's unsealed column, no key needed."""
    database = servers.work / "data" / "gateway.sqlite3"
    if servers.gateway is None or not database.exists():
        return 0
    with contextlib.closing(sqlite3.connect(database)) as db:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


# --- the load generator ------------------------------------------------------------------


@dataclass
class Result:
    name: str
    sent: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, 2xx replies only
    lags: list[float] = field(default_factory=list)  # open loop: start after its due time
    codes: Counter[str] = field(default_factory=Counter)
    held: int = 0
    counted: int = 0  # by the sink
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def accepted(self) -> int:
        return self.codes["250"]

    @property
    def lost(self) -> int:
        return self.accepted - self.counted - self.held

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _client(
    port: int,
    jobs: Iterator[int],
    messages: list[bytes],
    result: Result,
    due: tuple[float, float] | None,
) -> None:
    """One connection sending messages from the shared ``jobs`` until it runs out."""
    import aiosmtplib

    smtp: aiosmtplib.SMTP | None = None
    for number in jobs:
        if due is not None:
            start, interval = due
            wait = start + number * interval - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                result.lags.append(-wait)
        try:
            if smtp is None or not smtp.is_connected:
                smtp = aiosmtplib.SMTP(
                    hostname=HOST, port=port, timeout=60, local_hostname="load.test"
                )
                await smtp.connect()
            began = time.perf_counter()
            await smtp.mail(SENDER)
            await smtp.rcpt(f"someone{number}@partner.example")
            reply = await smtp.data(messages[number % len(messages)])
            elapsed = time.perf_counter() - began
        except aiosmtplib.SMTPResponseException as exc:
            result.codes[str(exc.code)] += 1
            if smtp is not None and smtp.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await smtp.rset()
            continue
        except (aiosmtplib.SMTPException, OSError) as exc:
            result.codes[f"error:{exc.__class__.__name__}"] += 1
            if smtp is not None:
                smtp.close()
            smtp = None
            continue
        finally:
            result.sent += 1
        result.codes[str(reply.code)] += 1
        if 200 <= reply.code < 300:
            result.latencies.append(elapsed)
    if smtp is not None and smtp.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit()


async def load(
    name: str,
    port: int,
    messages: list[bytes],
    count: int,
    connections: int,
    rate: float | None = None,
    timeout: float = 900.0,
) -> Result:
    """``count`` messages over ``connections`` connections: closed loop, or paced at ``rate``."""
    result = Result(name)
    jobs = iter(range(count))
    started = time.perf_counter()
    due = (started + 0.05, 1.0 / rate) if rate else None
    async with asyncio.timeout(timeout):
        await asyncio.gather(
            *(_client(port, jobs, messages, result, due) for _ in range(connections))
        )
    result.seconds = time.perf_counter() - started
    return result


def measure(
    name: str,
    port: int,
    servers: Servers,
    messages: list[bytes],
    count: int,
    connections: int,
    rate: float | None = None,
    warmup: int = 100,
    timeout: float = 900.0,
) -> Result:
    """Warm up, then one measured run with the sink's count and each process's CPU time."""
    asyncio.run(load(name, port, messages, min(warmup, count), connections, None, 60))
    pids = {"sink": servers.processes[0].pid, "relay": servers.processes[1].pid}
    if servers.gateway is not None:
        pids["gateway"] = servers.gateway.pid
    before_cpu = {k: cpu_seconds(p) for k, p in pids.items()}
    before_self = sum(os.times()[:2])
    before = servers.counter.value
    held_before = held_rows(servers)
    result = asyncio.run(load(name, port, messages, count, connections, rate, timeout))
    time.sleep(0.2)  # the sink counts before it answers; this is only a margin
    result.counted = servers.counter.value - before
    # A held message is answered as a relayed one is: the store says which were held.
    result.held = held_rows(servers) - held_before
    result.cpu = {k: cpu_seconds(p) - before_cpu[k] for k, p in pids.items()}
    result.cpu["load generator"] = sum(os.times()[:2]) - before_self
    return result


# --- the report ----------------------------------------------------------------------------


def line(result: Result, direct: Result | None) -> str:
    p50, p99 = result.pct(0.5), result.pct(0.99)
    added = (
        f"  added p50 {p50 - direct.pct(0.5):+6.1f} ms  p99 {p99 - direct.pct(0.99):+6.1f} ms"
        if direct is not None and direct is not result
        else ""
    )
    return (
        f"{result.name:<16}{result.rate:8.0f} msg/s   p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        f"{added}   lost {result.lost}"
    )


def details(result: Result) -> str:
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(result.codes.items()))
    cpu = ", ".join(
        f"{k} {v / max(result.sent, 1) * 1000:.2f}" for k, v in result.cpu.items() if v > 0
    )
    return (
        f"                replies {{{codes}}}, counted by the sink {result.counted}, "
        f"held {result.held}; CPU ms/msg: {cpu}"
    )


def report(args: argparse.Namespace) -> bool:
    """Run everything and print the figures; True when all three targets are met."""
    from benchmarks import synthetic

    total = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="smtp-load-"))
    servers = Servers(work)
    try:
        started = time.monotonic()
        register = work / "register.json"
        write_register(register, args.smtp_cases)
        written = time.monotonic() - started
        distinct = synthetic.messages(CORPUS, min(args.smtp_distinct, args.smtp_messages))
        messages = [m.replace(b"\n", b"\r\n") for m in distinct]
        start_helpers(servers)
        listening = start_gateway(servers, register, args.smtp_start_timeout)
        print(
            f"\n== SMTP load: {args.smtp_messages:,} messages of ~10 KB over "
            f"{args.smtp_connections} connections, {args.smtp_cases:,}-case register =="
        )
        print(
            f"register JSON written in {written:.1f} s; gateway listening after "
            f"{listening:.1f} s (import, validate, index)"
        )
        peak = _peak(servers, messages, args)
        half = _half(servers, messages, args, peak[2].rate / 2)
        ok = _verdict(*peak, *half)
        print(f"SMTP load test took {time.monotonic() - total:.0f} s")
        return ok
    except Exception:
        tail = servers.gateway_tail()
        if tail:
            print(f"gateway log (tail):\n{tail}", file=sys.stderr)
        raise
    finally:
        servers.stop()
        shutil.rmtree(work, ignore_errors=True)


def _peak(
    servers: Servers, messages: list[bytes], args: argparse.Namespace
) -> tuple[Result, Result, Result]:
    """Closed loop, as fast as answered: direct, plain relay, gateway."""
    n, c = args.smtp_messages, args.smtp_connections
    results: list[Result] = []
    for name, port in (
        ("direct to sink", servers.sink_port),
        ("plain relay", servers.relay_port),
        ("gateway", servers.gateway_port),
    ):
        result = measure(name, port, servers, messages, n, c)
        print(line(result, results[0] if results else None))
        print(details(result))
        sys.stdout.flush()
        results.append(result)
    direct, plain, gateway = results
    print(
        f"ratios          gateway/plain {gateway.rate / plain.rate:.2f}x, gateway/direct "
        f"{gateway.rate / direct.rate:.2f}x, plain/direct {plain.rate / direct.rate:.2f}x"
    )
    return direct, plain, gateway


def _half(
    servers: Servers, messages: list[bytes], args: argparse.Namespace, rate: float
) -> tuple[Result, Result]:
    """Open loop at ``rate`` (half the gateway's peak): direct, then the gateway."""
    count = max(200, int(rate * args.smtp_half_seconds))
    c = args.smtp_connections
    print(f"-- open loop at half the gateway's peak: {rate:.0f} msg/s, {count:,} messages --")
    direct = measure("direct (half)", servers.sink_port, servers, messages, count, c, rate=rate)
    print(line(direct, None))
    gateway = measure(
        "gateway (half)", servers.gateway_port, servers, messages, count, c, rate=rate
    )
    print(line(gateway, direct))
    print(details(gateway))
    late = sorted(gateway.lags)
    if late:
        print(
            f"                {len(late)} sends started after their due time "
            f"(max {late[-1] * 1000:.1f} ms late)"
        )
    return direct, gateway


def _verdict(*results: Result) -> bool:
    """The three targets, met or not."""
    _direct, plain, gateway, direct_half, gateway_half = results
    ratio = gateway.rate / plain.rate if plain.rate else 0.0
    added_half = gateway_half.pct(0.99) - direct_half.pct(0.99)
    lost = sum(r.lost for r in results)
    other = sum(v for r in results for k, v in r.codes.items() if k != "250")
    ok_ratio, ok_half = ratio >= TARGET_RATIO, added_half <= TARGET_HALF_P99_MS
    print(
        f"target          gateway >= {TARGET_RATIO}x plain relay throughput: "
        f"{ratio:.2f}x {'met' if ok_ratio else 'NOT met'}"
    )
    print(
        f"target          p99 added latency <= {TARGET_HALF_P99_MS:.0f} ms at half of peak: "
        f"{added_half:.1f} ms {'met' if ok_half else 'NOT met'}"
    )
    print(
        f"target          lost messages = 0: {lost} {'met' if lost == 0 else 'NOT met'}"
        f" ({other} replies other than 250)"
    )
    return ok_ratio and ok_half and lost == 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SMTP load test")
    group.add_argument("--smtp-messages", type=int, default=10_000, help="messages per target")
    group.add_argument("--smtp-connections", type=int, default=20)
    group.add_argument("--smtp-cases", type=int, default=100_000, help="register size")
    group.add_argument(
        "--smtp-distinct", type=int, default=1_000, help="distinct message bodies, cycled"
    )
    group.add_argument(
        "--smtp-half-seconds", type=float, default=20.0, help="length of the half-load runs"
    )
    group.add_argument("--smtp-start-timeout", type=float, default=300.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.smtp_load", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
    report(args)  # like the other sections: prints "NOT met", does not fail


if __name__ == "__main__":
    main()
