"""Two gateway nodes on one PostgreSQL store against one node on SQLite, in one run.

``python -m benchmarks.pg_nodes`` (also ``python -m benchmarks --pg``).  The same sink,
register (synthetic, 100,000 cases unless ``--cases`` says otherwise) and messages
(~10 KB of plain text) go to two targets on 127.0.0.1:

* sqlite      - one ``gateway serve`` on its SQLite store: the baseline;
* postgresql  - two ``gateway serve`` nodes on one PostgreSQL database with one key
                file, half the client connections to each.  The database is a
                throwaway server (``tests/pg_support.py``) restarted with fsync on, as
                SQLite commits with synchronous=FULL; ``--url`` names another.

Three phases; each runs half its messages on each target in turn, then the other half
in the reverse order (SQLite, PostgreSQL, PostgreSQL, SQLite), so a machine that drifts
favours neither, and the two rounds' difference shows the run's noise:

1. peak  - closed loop over 20 connections; one message in 20 is a leak (a case's
           protected address sent to its restricted contact: held), the rest relayed;
2. half  - open loop at half the SQLite node's peak, the same mix, and the direct path
           to the sink at that rate: the p50/p99 latency added over direct;
3. holds - closed loop, every message a leak: holds committed per second.

A held message is answered exactly like a relayed one, so holds are counted in the
store (``count_by_status`` before and after each run), and lost = 250 replies - the
sink's count - new rows in the store.  Ratios are against the SQLite node of the same
run.  Two nodes on one small machine share its cores with each other, PostgreSQL, the
sink and the load generator: the figures show what the shared database costs, not what
a second machine would add.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.smtp_load import (
    CORPUS,
    GATEWAY,
    HOST,
    INTERNAL,
    SENDER,
    Result,
    Servers,
    cpu_seconds,
    free_port,
    start_helpers,
    stop_gateway,
    write_register,
)

LEAK_EVERY = 20  # the mix: one message in 20 is a leak (5%)
NOISE = (
    "noise: the machine's other work, CPU frequency and the disk's fsync time move these "
    "figures by 10-20% from run to run on a small VM; read the ratios, and rerun before "
    "trusting a smaller difference"
)
SHARED_CORES = (
    "{cores} core(s): the two PostgreSQL nodes share them with each other, PostgreSQL, the "
    "sink and the load generator, so the figures show what the shared database costs, "
    "not what a second machine would add"
)


# --- the messages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """Message ``number`` of a run: a leak every ``every`` messages, else a clean one."""

    clean: tuple[bytes, ...]
    leaks: tuple[tuple[str, bytes], ...]  # (restricted contact, message with the address)
    every: int

    def mail(self, number: int) -> tuple[str, bytes]:
        """(envelope recipient, message)."""
        if number % self.every == 0:
            return self.leaks[(number // self.every) % len(self.leaks)]
        return f"someone{number}@partner.example", self.clean[number % len(self.clean)]


def leak_mail(cases: int, count: int, clean: list[bytes]) -> list[tuple[str, bytes]]:
    """``count`` leaks from the first cases of the register's two parts (as
    ``write_register`` numbers them): a case's protected address in a ~10 KB message to
    its restricted contact."""
    from benchmarks import synthetic

    out: list[tuple[str, bytes]] = []
    for which in range(2):
        for case in itertools.islice(synthetic.part(cases, 2, which), -(-count // 2)):
            to = case.restricted[0].emails[0]
            head = (
                f"From: {SENDER}\r\nTo: {to}\r\nSubject: Re: the move\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\n"
                f"As you asked: she has moved to {case.protected[0].addresses[0]}.\r\n\r\n"
            )
            body = clean[len(out) % len(clean)].split(b"\r\n\r\n", 1)[1]
            out.append((to, head.encode() + body))
    return out


# --- the load generator: smtp_load's, with a recipient for each message ----------------------


@dataclass
class Run(Result):
    """A run's figures; ``held`` is the new rows in the store, ``nodes`` messages per
    port."""

    nodes: Counter[int] = field(default_factory=Counter)
    rounds: list[float] = field(default_factory=list)  # rates of the rounds merged


async def _pace(due: tuple[float, float] | None, number: int, run: Run) -> None:
    """Open loop: wait until message ``number`` is due, or note how late it starts."""
    if due is not None:
        wait = due[0] + number * due[1] - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            run.lags.append(-wait)


async def _client(
    port: int, jobs: Iterator[int], mix: Mix, run: Run, due: tuple[float, float] | None
) -> None:
    """One connection sending messages from the shared ``jobs`` until it runs out."""
    import aiosmtplib

    smtp: aiosmtplib.SMTP | None = None
    for number in jobs:
        await _pace(due, number, run)
        rcpt, raw = mix.mail(number)
        run.sent += 1
        run.nodes[port] += 1
        try:
            if smtp is None or not smtp.is_connected:
                smtp = aiosmtplib.SMTP(hostname=HOST, port=port, timeout=60)
                await smtp.connect()
            began = time.perf_counter()
            await smtp.mail(SENDER)
            await smtp.rcpt(rcpt)
            reply = await smtp.data(raw)
        except aiosmtplib.SMTPResponseException as exc:
            run.codes[str(exc.code)] += 1
            if smtp is not None and smtp.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await smtp.rset()
            continue
        except (aiosmtplib.SMTPException, OSError) as exc:
            run.codes[f"error:{exc.__class__.__name__}"] += 1
            if smtp is not None:
                smtp.close()
            smtp = None
            continue
        run.codes[str(reply.code)] += 1
        if 200 <= reply.code < 300:
            run.latencies.append(time.perf_counter() - began)
    if smtp is not None and smtp.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit()


async def load(
    name: str, ports: list[int], mix: Mix, count: int, connections: int, rate: float | None
) -> Run:
    """``count`` messages over ``connections`` connections, dealt round the ``ports``:
    closed loop, or paced at ``rate`` messages a second."""
    run = Run(name)
    jobs = iter(range(count))
    started = time.perf_counter()
    due = (started + 0.05, 1.0 / rate) if rate else None
    async with asyncio.timeout(900):
        await asyncio.gather(
            *(_client(ports[k % len(ports)], jobs, mix, run, due) for k in range(connections))
        )
    run.seconds = time.perf_counter() - started
    return run


# --- the gateway nodes and the database ------------------------------------------------------


@dataclass
class Node:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    seconds: float = 0.0  # until it listened


@dataclass
class Target:
    """Where a run's clients connect, which processes' CPU time to count, and how many
    messages its store holds now."""

    name: str
    ports: list[int]
    pids: dict[str, int]
    stored: Callable[[], int] = lambda: 0


@dataclass
class Rig:
    """Everything started for a run; ``stop`` ends all of it, whatever happened."""

    work: Path
    helpers: Servers  # smtp_load's sink (and its plain relay, unused here)
    nodes: list[Node] = field(default_factory=list)

    def stop(self) -> None:
        for node in self.nodes:
            stop_gateway(node.proc)
        self.helpers.stop()

    def pids(self) -> list[int]:
        return [n.proc.pid for n in self.nodes] + [p.pid for p in self.helpers.processes]

    def tails(self) -> str:
        return "".join(
            f"{n.name} log (tail):\n{n.log.read_text(errors='replace')[-2000:]}\n"
            for n in self.nodes
            if n.log.exists()
        )


def start_node(rig: Rig, name: str, register: Path, timeout: float, *store: str) -> Node:
    """``gateway serve`` in front of the sink, with its own data folder; ``store``: the
    ``--store URL --key-file PATH`` of a PostgreSQL node."""
    port = free_port()
    command = [
        str(GATEWAY), "serve", "--listen", f"{HOST}:{port}",
        "--upstream", f"{HOST}:{rig.helpers.sink_port}", "--data-dir", str(rig.work / name),
        "--register", str(register), "--internal-domain", INTERNAL, *store,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    log = rig.work / f"{name}.log"
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own command line
            command, stdout=out, stderr=subprocess.STDOUT, cwd=rig.work, env=env
        )
    node = Node(name, port, proc, log)
    rig.nodes.append(node)
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            node.seconds = time.monotonic() - started
            return node
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen within {timeout:.0f} s")


def counter(url: str, database: Path, key: Path) -> Callable[[], int]:
    """How many messages the store holds (any status), opened as ``gateway quarantine``
    opens it."""
    from gateway.crypto import KeyRing
    from gateway.store.opening import open_store

    async def count() -> int:
        store = await open_store(url, database, KeyRing.load(key))
        try:
            return sum((await store.count_by_status()).values())
        finally:
            await store.close()

    return lambda: asyncio.run(count())


@dataclass(frozen=True)
class Database:
    url: str
    pid: int | None  # the postmaster's, when the server is ours
    about: str


@contextlib.contextmanager
def database(url: str) -> Iterator[Database]:
    """The database at ``url``, or a new one on a throwaway server with fsync on."""
    if url:
        yield Database(url, None, f"PostgreSQL at {_redacted(url)} (--url): {_show(url)}")
        return
    from tests.pg_support import throwaway_postgres

    with throwaway_postgres() as server:
        # The throwaway server starts with fsync off (tests need speed, not crashes
        # survived); a benchmark against SQLite's synchronous=FULL needs it on.
        server.stop()
        options = f"-p {server.port} -k {server.folder} -c listen_addresses=127.0.0.1"
        log = str(server.folder / "log")
        server.pg_ctl("-l", log, "-w", "-t", "120", "start", "-o", f"{options} -c fsync=on")
        pid = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
        url = server.new_database()
        yield Database(url, pid, f"throwaway PostgreSQL on loopback: {_show(url)}")


def _show(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        shown = {
            name: str((conn.execute(f"SHOW {name}".encode()).fetchone() or ("?",))[0])
            for name in ("server_version", "fsync", "synchronous_commit")
        }
    return ", ".join(f"{k} {v}" for k, v in shown.items())


def _redacted(url: str) -> str:
    from gateway.store.pg import redacted

    return redacted(url)


def start(rig: Rig, args: argparse.Namespace, db: Database) -> tuple[Target, Target, Target]:
    """Sink, register, the SQLite node, then the two PostgreSQL nodes one after the
    other (the first imports the register; the second finds it there): the direct,
    SQLite and PostgreSQL targets."""
    from gateway.crypto import KeyRing

    start_helpers(rig.helpers)
    started = time.monotonic()
    register = rig.work / "register.json"
    write_register(register, args.pg_cases)
    written = time.monotonic() - started
    sqlite = start_node(rig, "sqlite", register, args.pg_start_timeout)
    key = rig.work / "shared.key"
    KeyRing.generate(key)
    store = ("--store", db.url, "--key-file", str(key))
    a, b = (start_node(rig, f"pg-{n}", register, args.pg_start_timeout, *store) for n in "ab")
    print(
        f"register JSON written in {written:.1f} s; listening after: SQLite node "
        f"{sqlite.seconds:.1f} s, PostgreSQL node a {a.seconds:.1f} s (imports the register), "
        f"node b {b.seconds:.1f} s (finds it imported); each node indexes the register itself"
    )
    direct = Target("direct to sink", [rig.helpers.sink_port], {})
    one = Target(
        "sqlite, 1 node",
        [sqlite.port],
        {"gateway": sqlite.proc.pid},
        counter("", rig.work / "sqlite" / "gateway.sqlite3", rig.work / "sqlite" / "master.key"),
    )
    pids = {"node a": a.proc.pid, "node b": b.proc.pid}
    two = Target(
        "postgresql, 2 nodes",
        [a.port, b.port],
        pids | ({"postgres": db.pid} if db.pid else {}),
        counter(db.url, rig.work / "counting" / "gateway.sqlite3", key),
    )
    return direct, one, two


# --- measuring and reporting -----------------------------------------------------------------


def measure(
    rig: Rig, target: Target, mix: Mix, count: int, connections: int, rate: float | None = None
) -> Run:
    """Warm up, then one measured run with the sink's count, the store's new rows and
    each process's CPU time."""
    asyncio.run(load("warm-up", target.ports, mix, min(100, count), connections, None))
    pids = {**target.pids, "sink": rig.helpers.processes[0].pid}
    rows, sunk = target.stored(), rig.helpers.counter.value
    cpu = {k: cpu_seconds(p) for k, p in pids.items()}
    mine = sum(os.times()[:2])
    run = asyncio.run(load(target.name, target.ports, mix, count, connections, rate))
    time.sleep(0.2)  # the sink counts before it answers; this is only a margin
    run.cpu = {k: cpu_seconds(p) - cpu[k] for k, p in pids.items()}
    run.cpu["load generator"] = sum(os.times()[:2]) - mine
    run.counted = rig.helpers.counter.value - sunk
    run.held = target.stored() - rows
    return run


def line(run: Run, unit: str = "msg/s", direct: Run | None = None) -> str:
    p50, p99 = run.pct(0.5), run.pct(0.99)
    added = (
        f"  added p50 {p50 - direct.pct(0.5):+6.1f} ms  p99 {p99 - direct.pct(0.99):+6.1f} ms"
        if direct is not None
        else ""
    )
    parts = " + ".join(f"{rate:.0f}" for rate in run.rounds)
    return (
        f"{run.name:<20}{run.rate:7.0f} {unit:<6} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        f"{added}   lost {run.lost}   (rounds {parts})"
    )


def details(run: Run) -> str:
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(run.codes.items()))
    split = " + ".join(str(n) for _, n in sorted(run.nodes.items()))
    split = f" ({split} per node)" if len(run.nodes) > 1 else ""
    cpu = ", ".join(f"{k} {v / max(run.sent, 1) * 1000:.2f}" for k, v in run.cpu.items() if v)
    return (
        f"{'':20}replies {{{codes}}}{split}, sink {run.counted}, new in the "
        f"store {run.held}; CPU ms/msg: {cpu}"
    )


def ratio(name: str, pg: float, sqlite: float, unit: str = "x") -> str:
    value = f"{pg / sqlite:.2f}{unit}" if sqlite > 0 else "n/a"
    return f"{'ratio':<20}{name} postgresql/sqlite {value}"


def merged(parts: list[Run]) -> Run:
    """One target's rounds as one run; each round's rate kept in ``rounds``."""
    run = Run(parts[0].name, rounds=[part.rate for part in parts])
    for part in parts:
        run.sent, run.seconds = run.sent + part.sent, run.seconds + part.seconds
        run.counted, run.held = run.counted + part.counted, run.held + part.held
        run.latencies += part.latencies
        run.lags += part.lags
        run.codes.update(part.codes)
        run.nodes.update(part.nodes)
        run.cpu = {k: run.cpu.get(k, 0.0) + part.cpu.get(k, 0.0) for k in part.cpu}
    return run


def rounds(
    rig: Rig, targets: list[Target], mix: Mix, count: int, args: argparse.Namespace, **how: Any
) -> list[Run]:
    """Half of ``count`` to each target in turn, then the other half in the reverse
    order (A B B A): a machine that drifts during the phase favours no target."""
    order = [*targets, *reversed(targets)]
    parts: dict[str, list[Run]] = {t.name: [] for t in targets}
    for k, target in enumerate(order):
        size = count // 2 if k < len(targets) else count - count // 2
        parts[target.name].append(measure(rig, target, mix, size, args.pg_connections, **how))
    return [merged(parts[t.name]) for t in targets]


def _show_runs(runs: list[Run], unit: str, direct: Run | None = None) -> None:
    for run in runs:
        print(line(run, unit, direct if run is not direct else None))
        if run is not direct:
            print(details(run))
    sys.stdout.flush()


def _peak(rig: Rig, targets: list[Target], mix: Mix, args: argparse.Namespace) -> list[Run]:
    n = args.pg_messages
    print(f"-- 1. throughput: closed loop, {n:,} messages, 1 in {mix.every} a leak (held) --")
    runs = rounds(rig, targets, mix, n, args)
    _show_runs(runs, "msg/s")
    print(ratio("throughput", runs[1].rate, runs[0].rate))
    return runs


def _half(
    rig: Rig, targets: list[Target], mix: Mix, args: argparse.Namespace, rate: float
) -> list[Run]:
    count = max(200, int(rate * args.pg_half_seconds))
    print(
        f"-- 2. added latency: open loop at half the SQLite node's peak, {rate:.0f} msg/s, "
        f"{count:,} messages, the same mix --"
    )
    runs = rounds(rig, targets, mix, count, args, rate=rate)
    direct, sqlite, pg = runs
    _show_runs(runs, "msg/s", direct)
    for q in (0.5, 0.99):
        added = pg.pct(q) - direct.pct(q), sqlite.pct(q) - direct.pct(q)
        print(
            f"{ratio(f'p{q * 100:.0f} added', *added)} "
            f"({added[0] - added[1]:+.1f} ms; n/a when SQLite adds nothing)"
        )
    return runs


def _holds(rig: Rig, targets: list[Target], mix: Mix, args: argparse.Namespace) -> list[Run]:
    n = args.pg_leaks
    print(f"-- 3. holds committed: closed loop, {n:,} messages, every one a leak --")
    runs = rounds(rig, targets, mix, n, args)
    _show_runs(runs, "held/s")
    for run in runs:
        print(
            f"verified            {run.name}: {run.held:,} new rows in the store for "
            f"{run.accepted:,} replies 250; {run.counted} reached the sink"
        )
    print(ratio("holds/s", runs[1].rate, runs[0].rate))
    return runs


def spread(runs: list[Run]) -> float:
    """The largest difference between a target's two rounds, as a share of its rate."""
    return max((max(r.rounds) - min(r.rounds)) / r.rate for r in runs if r.rate)


@dataclass
class Summary:
    runs: dict[str, list[Run]]  # peak: sqlite, pg; half: direct, sqlite, pg; holds: sqlite, pg
    lost: int
    work: Path
    pids: list[int]


def report(args: argparse.Namespace) -> Summary:
    """Start everything, run the three phases and print the figures."""
    from benchmarks import synthetic

    total = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="pg-nodes-"))
    rig = Rig(work, Servers(work))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with contextlib.ExitStack() as stack:
            db = stack.enter_context(database(args.pg_url))
            stack.callback(rig.stop)  # the nodes stop before their database does
            print(
                f"\n== gateway nodes: 1 on SQLite against 2 on one PostgreSQL database; "
                f"{args.pg_cases:,}-case register, ~10 KB messages, "
                f"{args.pg_connections} connections =="
            )
            print(f"PostgreSQL: {db.about}; SQLite: WAL, synchronous=FULL")
            direct, one, two = start(rig, args, db)
            print(SHARED_CORES.format(cores=os.cpu_count()))
            print(NOISE)
            distinct = synthetic.messages(CORPUS, max(1, args.pg_distinct))
            clean = [m.replace(b"\n", b"\r\n") for m in distinct]
            leaks = tuple(leak_mail(args.pg_cases, min(200, args.pg_cases), clean))
            mix = Mix(tuple(clean), leaks, LEAK_EVERY)
            runs = {"peak": _peak(rig, [one, two], mix, args)}
            runs["half"] = _half(rig, [direct, one, two], mix, args, runs["peak"][0].rate / 2)
            runs["holds"] = _holds(rig, [one, two], Mix((), leaks, 1), args)
            lost = sum(r.lost for phase in runs.values() for r in phase)
            print(f"lost messages, every run: {lost}")
            noise = spread([*runs["peak"], *runs["holds"]])
            print(f"noise in this run: a target's two rounds differed by up to {noise:.0%}")
            print(f"pg_nodes benchmark took {time.monotonic() - total:.0f} s")
            return Summary(runs, lost, work, rig.pids())
    except BaseException:
        print(rig.tails(), file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def available(args: argparse.Namespace) -> str | None:
    """Why the benchmark cannot run here, or None when it can."""
    from tests.pg_support import pg_bin

    if args.pg_url or pg_bin() is not None:
        return None
    return "no PostgreSQL server binaries (apt-get install postgresql) and no --url"


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "pg-") -> None:
    """The options; ``python -m benchmarks`` names them ``--pg-*``."""
    group = parser.add_argument_group("gateway nodes on PostgreSQL")

    def option(name: str, **kwargs: Any) -> None:
        group.add_argument(f"--{prefix}{name}", dest=f"pg_{name.replace('-', '_')}", **kwargs)

    option("messages", type=int, default=6_000, help="messages per target at peak (5%% leaks)")
    option("leaks", type=int, default=3_000, help="messages per target, all leaks, for holds/s")
    option("connections", type=int, default=20, help="client connections (split over nodes)")
    option("cases", type=int, default=100_000, help="synthetic register size")
    option("distinct", type=int, default=1_000, help="distinct clean bodies, cycled")
    option("half-seconds", type=float, default=20.0, help="length of the half-load runs")
    option("start-timeout", type=float, default=300.0, help="seconds for a node to listen")
    option("url", default="", help="an empty PostgreSQL database (default: a throwaway server)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pg_nodes", description=__doc__)
    add_arguments(parser, prefix="")
    args = parser.parse_args()
    reason = available(args)
    if reason is not None:
        raise SystemExit(f"pg_nodes benchmark: {reason}")
    try:
        report(args)
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
