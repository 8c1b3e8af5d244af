"""Operations endpoint: Prometheus metrics, ``/healthz`` and ``/readyz`` on one port.

Metric values are counts, durations and rule ids only; nothing here can carry a
protected value.  The registry is the gateway's own (not the global one), so tests
and several gateways in one process do not share counters.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# a decision takes minutes to days: 1 min, 5, 15, 30, 1 h, 2, 4, 8, 1 day, 2, 1 week
_DECISION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class Metrics:
    """The gateway's metrics, in its own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages = Counter(
            "gateway_messages", "Messages by verdict action", ["action"], registry=r
        )
        self.scan_seconds = Histogram(
            "gateway_scan_seconds", "Time to scan one message", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.relay_seconds = Histogram(
            "gateway_relay_seconds",
            "Time to relay one message",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.relay_errors = Counter(
            "gateway_relay_errors", "Relays that failed or were refused", registry=r
        )
        self.held = Gauge("gateway_quarantine_held", "Messages waiting in quarantine", registry=r)
        self.oldest_held_at: float | None = None  # POSIX time; None: nothing held
        self.oldest_held_age = Gauge(
            "gateway_oldest_held_age_seconds",
            "Age of the message waiting longest in quarantine; 0 when none is held",
            registry=r,
        )
        self.oldest_held_age.set_function(self._oldest_age)
        self.time_to_decision = Histogram(
            "gateway_time_to_decision_seconds",
            "Time from a held message's arrival to its release or rejection",
            buckets=_DECISION_BUCKETS,
            registry=r,
        )
        self.connections = Gauge("gateway_connections", "Open client connections", registry=r)
        self.audit_chain_intact = Gauge(
            "gateway_audit_chain_intact",
            "1 if the audit chain verified at its last check (at start, then every"
            " few minutes: review/upkeep.py), 0 if it is broken; NaN until the first check",
            registry=r,
        )
        self.audit_chain_intact.set(float("nan"))  # unknown is neither intact nor broken
        self.register_version = Gauge(
            "gateway_register_version",
            "Register version in force: every scan worker scans with it",
            registry=r,
        )
        self.store_up = Gauge(
            "gateway_store_up",
            "1 if the store (SQLite file or PostgreSQL database) answered at the last"
            " look, every few seconds; 0 if it did not (then /readyz says not ready)",
            registry=r,
        )
        self.store_up.set(1)
        self.store_reachable = True

    def _oldest_age(self) -> float:
        held = self.oldest_held_at
        return 0.0 if held is None else max(0.0, time.time() - held)

    def store_seen(self, reachable: bool) -> None:
        """What the last look at the store found."""
        self.store_reachable = reachable
        self.store_up.set(int(reachable))


def observe_relay(metrics: Metrics) -> Callable[[float, bool], None]:
    """A relay observer for the SMTP handler: latency, and failures or refusals."""

    def observe(seconds: float, ok: bool) -> None:
        metrics.relay_seconds.observe(seconds)
        if not ok:
            metrics.relay_errors.inc()

    return observe


async def serve_http(
    sock: socket.socket, metrics: Metrics, ready: Callable[[], bool]
) -> asyncio.Server:
    """A minimal HTTP/1.0 server for ``/metrics``, ``/healthz`` and ``/readyz``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                while (await reader.readline()).strip():
                    pass
            path = request.split(b" ")[1] if request.count(b" ") >= 2 else b"/"
            status, kind, body = _route(path, metrics, ready)
            writer.write(
                b"HTTP/1.0 "
                + status
                + b"\r\nContent-Type: "
                + kind.encode()
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, sock=sock)


def _route(path: bytes, metrics: Metrics, ready: Callable[[], bool]) -> tuple[bytes, str, bytes]:
    if path == b"/metrics":
        return b"200 OK", CONTENT_TYPE_LATEST, generate_latest(metrics.registry)
    if path == b"/healthz":
        return b"200 OK", "text/plain", b"ok\n"
    if path == b"/readyz":
        if ready():
            return b"200 OK", "text/plain", b"ready\n"
        return b"503 Service Unavailable", "text/plain", b"not ready\n"
    return b"404 Not Found", "text/plain", b"not found\n"
