"""Upstream connections are kept between client sessions, and replaced when stale."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.integration.smtp_support import (
    SinkController,
    SinkHandler,
    free_port,
    start_gateway,
)

CLEAN = (
    b"From: a@council.example.gov.uk\r\nTo: b@partner.example\r\nSubject: Bins\r\n\r\nTuesday.\r\n"
)


def _session(port: int, messages: int = 1) -> list[int]:
    """One client session through the gateway sending ``messages`` clean messages."""
    codes = []
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        for _ in range(messages):
            codes.append(client.sendmail("a@council.example.gov.uk", ["b@partner.example"], CLEAN))
    return [len(refused) for refused in codes]


def _start(handler: SinkHandler, port: int) -> Controller:
    controller = SinkController(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def _wait(handler: SinkHandler, count: int) -> None:
    deadline = time.monotonic() + 10
    while handler.counter < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_one_upstream_connection_serves_client_sessions_in_turn(tmp_path: Path) -> None:
    """Five client sessions one after the other: one upstream connection, five messages."""
    handler, port = SinkHandler(), free_port()
    controller = _start(handler, port)
    gateway = start_gateway(tmp_path / "data", port)
    try:
        for _ in range(5):
            assert [0] == _session(gateway.port)
        _wait(handler, 5)
        assert (5, 1) == (handler.counter, handler.greetings)
    finally:
        gateway.stop()
        controller.stop()


def test_a_stale_pooled_connection_is_replaced_without_the_client_noticing(
    tmp_path: Path,
) -> None:
    """The upstream restarts between sessions: the next message still goes, on a new link."""
    first, port = SinkHandler(), free_port()
    controller = _start(first, port)
    gateway = start_gateway(tmp_path / "data", port)
    try:
        assert [0] == _session(gateway.port)
        controller.stop()  # the pooled connection is now dead
        second = SinkHandler()
        controller = _start(second, port)
        assert [0, 0] == _session(gateway.port, 2)
        _wait(second, 2)
        assert (1, 2, 1) == (first.counter, second.counter, second.greetings)
    finally:
        gateway.stop()
        controller.stop()


def test_no_pool_means_a_connection_per_client_session(tmp_path: Path) -> None:
    """upstream_pool = 0: every client session opens its own upstream connection."""
    handler, port = SinkHandler(), free_port()
    controller = _start(handler, port)
    gateway = start_gateway(tmp_path / "data", port, env={"GATEWAY_UPSTREAM_POOL": "0"})
    try:
        for _ in range(3):
            assert [0] == _session(gateway.port)
        _wait(handler, 3)
        assert (3, 3) == (handler.counter, handler.greetings)
    finally:
        gateway.stop()
        controller.stop()


def test_a_dropped_client_s_upstream_connection_is_not_pooled(tmp_path: Path) -> None:
    """A client gone mid-transaction: its upstream link is closed, never handed on, so
    the next client gets a fresh one and its own message arrives as sent."""
    handler, port = SinkHandler(), free_port()
    controller = _start(handler, port)
    gateway = start_gateway(tmp_path / "data", port)
    try:
        dropped = smtplib.SMTP("127.0.0.1", gateway.port, timeout=20)
        dropped.ehlo("client.test")
        dropped.mail("a@council.example.gov.uk")
        dropped.rcpt("someone@partner.example")
        dropped.sock.close()  # no QUIT: gone mid-transaction
        time.sleep(0.5)
        assert [0] == _session(gateway.port)
        _wait(handler, 1)
        (received,) = handler.messages
        assert (["b@partner.example"], 2) == (received.rcpt_tos, handler.greetings)
    finally:
        gateway.stop()
        controller.stop()
