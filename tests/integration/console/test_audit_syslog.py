"""Audit records out to syslog (``audit_syslog``) from a running ``gateway serve``: a
decision made in the console arrives at a UDP listener as an RFC 5424 message whose
MSG is the record as JSON, without its reason."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from tests.integration.console.test_audit_page import logged_in
from tests.integration.console_support import ConsoleGateway, console_gateway, high_hold

SECRET_REASON = "spoke to her at 12 Acacia Avenue"
# <PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG (RFC 5424, no structured data)
HEADER = re.compile(rb"<109>1 (\S+) (\S+) safe-address-gateway (\d+) audit - (\{.*\})\Z")


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A UDP socket on loopback standing in for the SIEM's collector."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        yield sock


@pytest.fixture(scope="module")
def g(
    tmp_path_factory: pytest.TempPathFactory, listener: socket.socket
) -> Iterator[ConsoleGateway]:
    port = listener.getsockname()[1]
    env = {"GATEWAY_AUDIT_SYSLOG": f"udp://127.0.0.1:{port}"}
    with console_gateway(tmp_path_factory.mktemp("syslog"), env=env) as running:
        yield running


def received_until(sock: socket.socket, wanted: str, seconds: float = 60) -> list[bytes]:
    """Datagrams received until one names ``wanted`` (or the time is up)."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        got.append(data)
        if wanted.encode() in data:
            break
    return got


def test_a_decision_goes_to_syslog_without_its_reason(
    g: ConsoleGateway, listener: socket.socket
) -> None:
    """The rejection arrives as RFC 5424 with the record as JSON; the reason does not."""
    message_id = g.hold(high_hold())
    with logged_in(g, "rita") as (client, csrf):
        done = client.post(
            f"/messages/{message_id}/reject", data={"reason": SECRET_REASON, "csrf": csrf}
        )
    assert 303 == done.status_code
    got = received_until(listener, f'"action":"reject","target":"{message_id}"')
    assert not any(b"Acacia" in data for data in got)
    match = HEADER.match(got[-1])
    assert match is not None, got[-1]
    record = json.loads(match.group(4))
    assert {"seq", "at", "actor", "action", "target", "has_reason"} == set(record)
    assert ("user:rita", "reject", message_id, True) == (
        record["actor"],
        record["action"],
        record["target"],
        record["has_reason"],
    )
    assert match.group(1).decode() == record["at"]
    assert b"gateway.localdomain" == match.group(2)
