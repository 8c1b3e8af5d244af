"""A throwaway Postfix, an smtp-sink upstream and the gateway, all on 127.0.0.1.

Everything here is bounded in time and cleans up after itself; nothing touches
/etc/postfix or port 25.  Postfix and smtp-sink need root (smtp-sink drops to
``nobody``), so ``require_postfix()`` skips the calling test with a reason otherwise.

Typical use (see ``test_postfix_paths.py`` for fixtures built on it)::

    sink_port, gw_port, in_port, reinject_port = free_ports(4)
    with start_sink(workdir / "sink", sink_port) as sink, \
         start_postfix(workdir / "pf", "after-queue", listen_port=in_port,
                       relay_port=sink_port, gateway_port=gw_port,
                       reinject_port=reinject_port) as pf, \
         start_gateway(workdir / "gw", listen_port=gw_port,
                       upstream_port=reinject_port, register=REGISTER) as gw:
        submit(in_port, build_mail(...))
        sink.wait_for(1)
        pf.wait_queue_empty()

Set-ups (``mode`` of ``start_postfix``):

``plain``        the smtpd on ``listen_port`` relays straight to the sink (no gateway).
``before-queue`` the smtpd on ``listen_port`` proxies each SMTP session through the
                 gateway (``smtpd_proxy_filter``); the gateway's upstream is a second
                 smtpd on ``reinject_port`` which queues and relays to the sink.
``after-queue``  mail is queued first, then handed to the gateway by a dedicated
                 ``gateway-filter`` smtp transport (``content_filter``); the gateway
                 re-injects into the smtpd on ``reinject_port``, which relays to the sink.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal

import pytest

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[3]
GATEWAY_BIN = REPO / ".venv" / "bin" / "gateway"
REGISTER = REPO.parent / "shared" / "contracts" / "register.example.yaml"
INTERNAL_DOMAIN = "council.example.gov.uk"
TEAM_ALIAS = f"tenancy-team@{INTERNAL_DOMAIN}"  # virtual_alias_maps: -> ALIASED_CONTACT
ALIASED_CONTACT = "mark.whitmore@example.com"  # restricted contact of case DA-2025-0142

Mode = Literal["plain", "before-queue", "after-queue"]


# --------------------------------------------------------------------------- waiting


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for_port(port: int, timeout: float = 10.0, what: str = "") -> None:
    wait_until(lambda: port_open(port), timeout, what or f"{HOST}:{port} to accept connections")


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody was listening on a moment ago."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_workdir(prefix: str = "gw-postfix-") -> Path:
    """A fresh folder that ``nobody`` and ``postfix`` can traverse.

    pytest's ``tmp_path`` lives under a 0700 folder, which the unprivileged smtp-sink
    and Postfix daemons cannot enter; this one is world-traversable instead.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------- requirements


def require_postfix() -> None:
    """Skip the calling test unless Postfix, smtp-sink and root are available."""
    if os.geteuid() != 0:
        pytest.skip("Postfix integration tests need root (private Postfix, smtp-sink -u nobody)")
    for tool in ("postfix", "postqueue", "smtp-sink"):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin") is None:
            pytest.skip(f"{tool} not installed (apt-get install postfix swaks; see .ci/run)")
    if not Path("/etc/postfix/master.cf").is_file():
        pytest.skip("/etc/postfix/master.cf missing: the postfix package is not installed")


def gateway_serve_available() -> bool:
    """Whether ``gateway serve --help`` works in this checkout."""
    try:
        done = subprocess.run(
            [str(GATEWAY_BIN), "serve", "--help"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def gateway_quarantine_cli_available() -> bool:
    try:
        done = subprocess.run(
            [str(GATEWAY_BIN), "quarantine", "list", "--help"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")
    assert found, f"{name} not found"
    return found


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; always reaps."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --------------------------------------------------------------------------- smtp-sink


@dataclass(frozen=True)
class SinkMessage:
    """One transaction captured by smtp-sink: envelope and the message as received."""

    path: Path
    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes  # the message (headers and body) as the sink received it, LF line ends

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


def parse_sink_dump(path: Path) -> SinkMessage:
    """Split an ``smtp-sink -d`` capture file into envelope and message."""
    lines = path.read_bytes().split(b"\n")
    mail_from, rcpts, i = "", [], 0
    while i < len(lines) and not lines[i].startswith(b"Received:"):
        key, _, value = lines[i].decode("utf-8", "replace").partition(": ")
        if key == "X-Mail-Args":
            mail_from = value.split()[0].strip("<>") if value.split() else ""
        elif key == "X-Rcpt-Args":
            rcpts.append(value.split()[0].strip("<>"))
        i += 1
    i += 1  # the sink's own Received: header and its continuation lines
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    data = b"\n".join(lines[i:])
    # the sink appends one empty line after the message
    data = data.removesuffix(b"\n")
    return SinkMessage(path, mail_from, tuple(rcpts), data)


@dataclass
class Sink:
    """A running ``smtp-sink`` keeping each transaction as a file under ``directory``."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes]
    accepts: bool  # False when it refuses or drops every message at the final dot
    log: Path

    def attempts(self) -> list[Path]:
        """Capture files, complete or not: smtp-sink also keeps transactions it refuses."""
        return sorted(p for p in self.directory.rglob("*") if p.is_file())

    def _complete(self) -> list[Path]:
        done = []
        for p in self.attempts():
            with contextlib.suppress(OSError):
                if p.read_bytes().endswith(b"\n\n"):
                    done.append(p)
        return done

    def messages(self) -> list[SinkMessage]:
        """Complete captured messages, oldest first; none for a sink that refuses at the dot.

        smtp-sink writes the file before it answers the final dot, so with ``wait=".:N"``
        a message shows up here before (or without) being acknowledged; Postfix's own
        count of acknowledged deliveries is ``Postfix.sent_to_sink()``.
        """
        if not self.accepts:
            return []
        return [parse_sink_dump(p) for p in self._complete()]

    def count(self) -> int:
        return len(self.messages())

    def wait_for(self, n: int, timeout: float = 15.0) -> list[SinkMessage]:
        """Wait until the sink holds at least ``n`` complete messages; return them all."""
        wait_until(lambda: self.count() >= n, timeout, f"{n} message(s) in the smtp-sink")
        return self.messages()

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.contextmanager
def start_sink(
    directory: Path,
    port: int,
    *,
    reply_at_dot: Literal["250", "4xx", "5xx", "drop"] = "250",
    wait: str | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[Sink]:
    """Run ``smtp-sink`` on ``127.0.0.1:port`` until the ``with`` block ends.

    ``reply_at_dot``: ``"250"`` accept; ``"4xx"`` answer 450 at the final dot (``-r .``);
    ``"5xx"`` answer 500 (``-f .``); ``"drop"`` disconnect without replying (``-q .``).
    ``wait``: ``"command:seconds"`` to stall before replying to a command (``-W``), e.g.
    ``".:60"`` to hang at the final dot past a client's timeout.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)  # smtp-sink writes as nobody
    args = [_tool("smtp-sink"), "-4"]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    args += ["-d", f"{directory}/%H%M%S."]
    flag = {"4xx": "-r", "5xx": "-f", "drop": "-q"}.get(reply_at_dot)
    if flag:
        args += [flag, "."]
    if wait:
        args += ["-W", wait]
    args += [*extra_args, f"{HOST}:{port}", "100"]
    log = directory.parent / f"smtp-sink-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(args, stdout=err, stderr=subprocess.STDOUT)
    sink = Sink(port, directory, proc, accepts=reply_at_dot == "250", log=log)
    try:
        wait_until(
            lambda: proc.poll() is not None or port_open(port),
            10,
            f"smtp-sink on port {port}",
        )
        assert proc.poll() is None, f"smtp-sink exited: {sink.stderr()}"
        yield sink
    finally:
        _stop_process(proc, timeout=5)


# --------------------------------------------------------------------------- Postfix

_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
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
        -o syslog_name=postfix/$service_name
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

# Options the re-injection smtpd shares in both set-ups: trust only loopback, accept
# XFORWARD from the gateway (so logs show the original client), no restrictions that
# were already applied on the way in.
_REINJECT_COMMON = """\
        -o smtpd_authorized_xforward_hosts=127.0.0.0/8
        -o smtpd_client_restrictions=
        -o smtpd_helo_restrictions=
        -o smtpd_sender_restrictions=
        -o smtpd_relay_restrictions=
        -o smtpd_recipient_restrictions=permit_mynetworks,reject
        -o smtpd_data_restrictions=
        -o mynetworks=127.0.0.0/8
"""


# after-queue re-injection: recipients were checked and rewritten, header/body checks
# and milters ran, when the message was first queued; none of it again
_AFTER_QUEUE_REINJECT_OVERRIDES = ",".join(
    ("no_unknown_recipient_checks", "no_header_body_checks", "no_milters", "no_address_mappings")
)


def master_cf(
    mode: Mode, listen_port: int, gateway_port: int | None, reinject_port: int | None
) -> str:
    """The master.cf for a set-up: stock services (no chroot) plus the SMTP listeners."""
    text = _MASTER_CF
    if mode == "plain":
        return text + f"{HOST}:{listen_port} inet n - n - - smtpd\n"
    assert gateway_port, "the gateway set-ups need gateway_port"
    assert reinject_port, "the gateway set-ups need reinject_port"
    if mode == "before-queue":
        return (
            text
            + f"""\
# incoming: each SMTP session is proxied through the gateway before Postfix queues it
{HOST}:{listen_port} inet n - n - 20 smtpd
        -o syslog_name=postfix/in
        -o smtpd_proxy_filter={HOST}:{gateway_port}
        -o smtpd_client_connection_count_limit=10
        -o smtpd_proxy_timeout=60s
# re-injection: the gateway's upstream; no proxy filter here, or mail would loop
{HOST}:{reinject_port} inet n - n - - smtpd
        -o syslog_name=postfix/reinject
        -o smtpd_proxy_filter=
{_REINJECT_COMMON}\
        -o receive_override_options=no_unknown_recipient_checks
"""
        )
    return (
        text
        + f"""\
# incoming: mail is queued (its recipients rewritten: aliases, BCC maps), then
# content_filter hands it to the gateway, which scans the recipients as rewritten
{HOST}:{listen_port} inet n - n - - smtpd
        -o syslog_name=postfix/in
# the dedicated transport that delivers queued mail to the gateway
gateway-filter unix - - n - 10 smtp
        -o syslog_name=postfix/gateway-filter
        -o smtp_send_xforward_command=yes
        -o disable_mime_output_conversion=yes
        -o smtp_generic_maps=
        -o smtp_tls_security_level=none
# re-injection: the gateway's upstream; content_filter= stops the loop back to it
{HOST}:{reinject_port} inet n - n - - smtpd
        -o syslog_name=postfix/reinject
        -o content_filter=
{_REINJECT_COMMON}\
        -o receive_override_options={_AFTER_QUEUE_REINJECT_OVERRIDES}
"""
    )


def main_cf(
    root: Path,
    mode: Mode,
    relay_port: int,
    gateway_port: int | None,
    gateway_hops: Sequence[int] = (),
) -> str:
    lines = [
        "compatibility_level = 3.6",
        f"queue_directory = {root}/queue",
        f"data_directory = {root}/data",
        "inet_interfaces = 127.0.0.1",
        "inet_protocols = ipv4",
        "myhostname = postfix-test.localdomain",
        "mydestination =",
        "local_recipient_maps =",
        "relay_domains =",
        "mynetworks = 127.0.0.0/8",
        f"relayhost = [{HOST}]:{relay_port}",
        f"maillog_file = {root}/maillog",
        f"maillog_file_prefixes = {root}",
        "smtp_tls_security_level = none",
        "smtpd_tls_security_level = none",
        "biff = no",
        # fast failure and retry for tests: no long back-off, no DNS
        "smtp_host_lookup = native",
        "disable_dns_lookups = yes",
        "queue_run_delay = 1s",
        "minimal_backoff_time = 1s",
        "maximal_backoff_time = 2s",
        "smtp_connect_timeout = 5s",
        "delay_warning_time = 0",
        # bounces for undeliverable test mail would go nowhere: drop them
        "bounce_queue_lifetime = 0",
        "soft_bounce = no",
    ]
    if mode != "plain":
        # an internal-looking alias that Postfix rewrites to a restricted contact
        lines.append(f"virtual_alias_maps = texthash:{root}/etc/virtual")
    if mode == "after-queue":
        assert gateway_port
        # several gateway nodes: a list of next hops (Postfix 3.5+), the first that
        # answers takes the mail
        hops = ", ".join(f"[{HOST}]:{port}" for port in (gateway_port, *gateway_hops))
        lines += [
            f"content_filter = gateway-filter:{hops}",
            "gateway-filter_destination_recipient_limit = 100",
            "gateway-filter_destination_concurrency_limit = 10",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Postfix:
    """A private Postfix instance rooted at ``root`` (config in ``root/etc``)."""

    root: Path
    mode: Mode
    listen_port: int
    relay_port: int
    gateway_port: int | None = None
    reinject_port: int | None = None
    gateway_hops: tuple[int, ...] = ()  # further gateway nodes after gateway_port
    started: bool = field(default=False, init=False)

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    def create(self) -> None:
        """Write the configuration; the queue is created by ``postfix start``."""
        shutil.copytree("/etc/postfix", self.config_dir)
        for name in ("main.cf", "master.cf"):
            (self.config_dir / name).unlink(missing_ok=True)
        (self.config_dir / "main.cf").write_text(
            main_cf(self.root, self.mode, self.relay_port, self.gateway_port, self.gateway_hops)
        )
        (self.config_dir / "master.cf").write_text(
            master_cf(self.mode, self.listen_port, self.gateway_port, self.reinject_port)
        )
        (self.config_dir / "virtual").write_text(f"{TEAM_ALIAS} {ALIASED_CONTACT}\n")
        (self.root / "queue").mkdir()
        data = self.root / "data"
        data.mkdir()
        shutil.chown(data, user="postfix")

    def _postfix(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_tool("postfix"), "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        check = self._postfix("check")
        assert check.returncode == 0, f"postfix check: {check.stderr}{self.log_text()}"
        done = self._postfix("start")
        assert done.returncode == 0, f"postfix start: {done.stderr}{self.log_text()}"
        self.started = True
        ports = [self.listen_port] + ([self.reinject_port] if self.reinject_port else [])
        for port in ports:
            wait_for_port(port, 15, f"Postfix ({self.mode}) on port {port}\n{self.log_text()}")

    def master_pid(self) -> int | None:
        pidfile = self.root / "queue" / "pid" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        return None

    def stop(self) -> None:
        """``postfix stop``, then make sure master and its children are gone."""
        if not self.started:
            return
        pid = self.master_pid()
        # A loaded machine can keep postfix-script's own wait (five one-second polls)
        # past any limit; master is then stopped by force below.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._postfix("stop", timeout=60)
        if pid is not None:
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                self._postfix("abort")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for child in _children(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        self.started = False

    def queue(self) -> list[dict[str, object]]:
        """``postqueue -j``: one dict per queued message (empty list when the queue is)."""
        done = subprocess.run(
            [_tool("postqueue"), "-c", str(self.config_dir), "-j"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        assert done.returncode == 0, f"postqueue -j: {done.stderr}"
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def wait_queue_empty(self, timeout: float = 15.0) -> None:
        wait_until(
            lambda: not self.queue(), timeout, f"an empty Postfix queue\n{self.log_text()}", 0.2
        )

    def log_text(self) -> str:
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def log_lines(self, *needles: str) -> list[str]:
        """Maillog lines that contain every one of ``needles``."""
        return [ln for ln in self.log_text().splitlines() if all(n in ln for n in needles)]

    def sent_to_sink(self) -> int:
        """Deliveries to the sink that Postfix logged as ``status=sent``."""
        return len(self.log_lines("status=sent", f"[{HOST}]:{self.relay_port}"))

    def flush(self) -> None:
        """Retry deferred mail now (``postqueue -f``)."""
        subprocess.run(
            [_tool("postqueue"), "-c", str(self.config_dir), "-f"],
            capture_output=True,
            timeout=15,
            check=False,
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _children(pid: int) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("PPid:") and int(line.split()[1]) == pid:
                    out.append(int(status.parent.name))
    return out


@contextlib.contextmanager
def start_postfix(
    root: Path,
    mode: Mode,
    *,
    listen_port: int,
    relay_port: int,
    gateway_port: int | None = None,
    reinject_port: int | None = None,
    gateway_hops: Sequence[int] = (),
) -> Iterator[Postfix]:
    """A private Postfix in ``root`` for the ``with`` block; always stopped afterwards.
    ``gateway_hops``: the ports of further gateway nodes (after-queue)."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    pf = Postfix(
        root, mode, listen_port, relay_port, gateway_port, reinject_port, tuple(gateway_hops)
    )
    pf.create()
    try:
        pf.start()
        yield pf
    finally:
        pf.stop()
        # pytest shows this only for failing tests
        print(f"--- Postfix maillog ({mode}) ---\n{pf.log_text()}")


# --------------------------------------------------------------------------- the gateway


@dataclass
class Gateway:
    """A running ``gateway serve`` subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def quarantine_list(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(GATEWAY_BIN), "quarantine", "list", "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


@contextlib.contextmanager
def start_gateway(
    workdir: Path,
    *,
    listen_port: int,
    upstream_port: int,
    register: Path = REGISTER,
    internal_domain: str = INTERNAL_DOMAIN,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Gateway]:
    """``gateway serve`` on ``127.0.0.1:listen_port`` relaying to ``upstream_port``.

    Waits for the port to accept connections; stops with SIGTERM (SIGKILL after 10 s).
    Its stderr is kept in ``workdir/gateway.stderr`` and printed at the end, so pytest
    shows it for failing tests.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    stderr_path = workdir / "gateway.stderr"
    args = [
        str(GATEWAY_BIN),
        "serve",
        "--listen",
        f"{HOST}:{listen_port}",
        "--upstream",
        f"{HOST}:{upstream_port}",
        "--data-dir",
        str(data_dir),
        "--register",
        str(register),
        "--internal-domain",
        internal_domain,
        *extra_args,
    ]
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    run_env.update(env or {})
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            args, stdout=err, stderr=subprocess.STDOUT, env=run_env, cwd=workdir
        )
    gw = Gateway(proc, listen_port, data_dir, stderr_path)
    try:
        wait_until(
            lambda: proc.poll() is not None or port_open(listen_port),
            20,
            f"gateway serve on port {listen_port}",
            0.1,
        )
        assert proc.poll() is None, f"gateway serve exited {proc.returncode}:\n{gw.stderr()}"
        yield gw
    finally:
        _stop_process(proc, timeout=10)
        print(f"--- gateway serve (exit {proc.returncode}) output ---\n{gw.stderr()}")


# --------------------------------------------------------------------------- submitting


def build_mail(
    *,
    to: Sequence[str],
    sender: str = f"worker@{INTERNAL_DOMAIN}",
    subject: str = "Test",
    body: str = "Hello.\n",
    message_id: str | None = None,
) -> EmailMessage:
    """A complete message (Date and Message-ID set, so Postfix adds none of its own)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id or make_msgid(domain=INTERNAL_DOMAIN)
    msg.set_content(body)
    return msg


def submit(
    port: int, msg: EmailMessage, *, sender: str | None = None, rcpts: Sequence[str] = ()
) -> dict[str, tuple[int, bytes]]:
    """Send ``msg`` to ``127.0.0.1:port`` with smtplib; refused recipients (raises on errors)."""
    envelope_from = sender or str(msg["From"])
    to = list(rcpts) or [a.strip() for a in str(msg["To"]).split(",")]
    with smtplib.SMTP(HOST, port, timeout=30) as smtp:
        smtp.ehlo("client.test")
        return smtp.send_message(msg, from_addr=envelope_from, to_addrs=to)


def submit_swaks(port: int, *, to: str, sender: str, body: str, timeout: float = 30) -> str:
    """Send a message with swaks (what an operator would use by hand); its transcript."""
    done = subprocess.run(
        [
            _tool("swaks"),
            "--server",
            f"{HOST}:{port}",
            "--to",
            to,
            "--from",
            sender,
            "--body",
            body,
            "--timeout",
            str(int(timeout)),
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 5,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
