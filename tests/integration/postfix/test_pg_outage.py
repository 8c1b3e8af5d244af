"""A gateway node whose PostgreSQL database goes away under load, and comes back.

While the database is down, mail the gateway would hold gets a 4xx (nothing is
acknowledged that is not stored) and clean mail still flows; ``/readyz`` says not
ready.  Once the database is back the same process holds again, without a restart,
and every message a client got a 250 for is at the sink or in the quarantine, once.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import shutil
import smtplib
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.store.pg import PgStore
from tests.pg_support import throwaway_postgres

from .harness import (
    HOST,
    INTERNAL_DOMAIN,
    build_mail,
    free_ports,
    make_workdir,
    require_postfix,
    start_gateway,
    start_sink,
    wait_until,
)

pytestmark = pytest.mark.slow

MARK = "mark.whitmore@example.com"  # restricted contact of case DA-2025-0142
SAFE_ADDRESS = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"
LANDLORD = "someone@landlord.example"


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = make_workdir("gw-pg-outage-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Client:
    """Sends leaks and clean mail in turn, one message per connection, and keeps each
    message's last reply code; a message refused with 4xx is sent again later."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.replies: dict[str, int] = {}
        self.refused: list[str] = []  # 4xx, in order
        self.stop = threading.Event()
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    @staticmethod
    def message(message_id: str) -> bytes:
        number = int(message_id[2:].split(".")[0])
        leak = number % 2 == 0
        msg = build_mail(
            to=[MARK if leak else LANDLORD],
            subject=f"n{number}",
            message_id=message_id,
            body=f"Her new address is {SAFE_ADDRESS}.\n" if leak else "The boiler is fixed.\n",
        )
        return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))

    @staticmethod
    def is_leak(message_id: str) -> bool:
        return int(message_id[2:].split(".")[0]) % 2 == 0

    def send(self, message_id: str) -> int:
        data = self.message(message_id)
        rcpt = MARK if self.is_leak(message_id) else LANDLORD
        with smtplib.SMTP(HOST, self.port, timeout=120) as smtp:
            smtp.ehlo("client.test")
            smtp.mail(f"worker@{INTERNAL_DOMAIN}")
            smtp.rcpt(rcpt)
            code, _ = smtp.data(data)
        with self._lock:
            self.replies[message_id] = code
            if 400 <= code < 500:
                self.refused.append(message_id)
        return code

    def run(self) -> None:
        while not self.stop.is_set():
            self.send(f"<n{next(self._numbers)}.outage@{INTERNAL_DOMAIN}>")

    def codes(self) -> collections.Counter[int]:
        with self._lock:
            return collections.Counter(self.replies.values())


def _ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def _held_ids(url: str, keys: KeyRing) -> collections.Counter[str]:
    store = await PgStore.open_pg(url, keys)
    try:
        held: collections.Counter[str] = collections.Counter()
        for summary in await store.list_held(limit=100_000):
            message = await store.get(summary.id)
            assert message is not None
            parsed = BytesParser(policy=default_policy).parsebytes(message.raw, headersonly=True)
            held[str(parsed["Message-ID"])] += 1
        return held
    finally:
        await store.close()


def test_a_database_outage_under_load_gives_4xx_and_loses_nothing(workdir: Path) -> None:
    require_postfix()
    key = workdir / "master.key"
    keys = KeyRing.generate(key)
    sink_port, gw_port, metrics_port = free_ports(3)
    with throwaway_postgres() as server:
        url = server.new_database()
        args = ["--store", url, "--key-file", str(key), "--metrics", f"{HOST}:{metrics_port}"]
        with (
            start_sink(workdir / "sink", sink_port) as sink,
            start_gateway(
                workdir / "node", listen_port=gw_port, upstream_port=sink_port, extra_args=args
            ) as node,
        ):
            client = Client(gw_port)
            senders = [threading.Thread(target=client.run) for _ in range(3)]
            for thread in senders:
                thread.start()
            try:
                wait_until(lambda: client.codes()[250] >= 20, 120, "mail flowing", 0.2)
                assert 200 == _ready(metrics_port)
                server.stop("fast")
                wait_until(lambda: client.refused, 180, "a 4xx while the database is down", 0.5)
                wait_until(lambda: _ready(metrics_port) == 503, 120, "/readyz not ready", 0.5)
                passed = client.codes()[250]
                wait_until(
                    lambda: client.codes()[250] > passed, 120, "clean mail during the outage", 0.2
                )
                server.start()
                wait_until(lambda: _ready(metrics_port) == 200, 180, "/readyz ready again", 0.5)
                refused_so_far = len(client.refused)
                wait_until(
                    lambda: client.codes()[250] >= passed + 20, 180, "mail flowing again", 0.2
                )
            finally:
                client.stop.set()
                for thread in senders:
                    thread.join(timeout=300)
            assert refused_so_far >= 1
            # The clients try again what was refused, as SMTP clients do.
            for message_id in list(client.refused):
                assert 250 == client.send(message_id)
            assert node.proc.poll() is None, node.stderr()
            accepted = {m for m, code in client.replies.items() if code == 250}
            assert set(client.replies) == accepted, client.codes()
            clean = {m for m in accepted if not Client.is_leak(m)}
            leaks = accepted - clean
            wait_until(lambda: sink.count() >= len(clean), 120, "the clean mail at the sink", 0.5)
            delivered = collections.Counter(str(m.message["Message-ID"]) for m in sink.messages())
            held = asyncio.run(_held_ids(url, keys))
    assert clean == set(delivered)
    assert leaks == set(held)
    assert [] == [m for m, n in (delivered + held).items() if n > 1]
