"""Audit records to syslog: the setting's forms, the RFC 5424 message, and a sink that
cannot send leaving the record written."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from contextlib import closing
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.errors import ConfigError
from gateway.review import audit
from gateway.review.siem import SyslogSink, SyslogTarget, format_message, parse_target
from gateway.settings import load_settings
from gateway.store import Store
from gateway.store.model import AuditEvent

EVENT = AuditEvent(7, "2026-12-06T15:00:00+00:00", "user:rita", "reject", "Q1", True)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("udp://127.0.0.1:514", SyslogTarget("udp", "127.0.0.1", 514)),
        ("tcp://siem.example:601", SyslogTarget("tcp", "siem.example", 601)),
        ("unix:/dev/log", SyslogTarget("unix", path="/dev/log")),
    ],
)
def test_the_setting_names_udp_tcp_or_a_unix_socket(text: str, target: SyslogTarget) -> None:
    """Each accepted form, parsed."""
    assert target == parse_target(text)


@pytest.mark.parametrize("text", ["syslog.example", "udp://host", "http://h:1", "unix:dev/log"])
def test_a_bad_setting_is_refused_at_load(text: str) -> None:
    """The settings refuse what is not a syslog target, naming the setting."""
    with pytest.raises(ConfigError, match="audit_syslog"):
        load_settings(env={"GATEWAY_AUDIT_SYSLOG": text})


def test_the_setting_is_off_by_default() -> None:
    """No syslog unless it is set."""
    assert "" == load_settings(env={}).audit_syslog


def test_the_message_is_rfc_5424_with_the_record_as_json() -> None:
    """Priority (log audit, notice), version, time, host, app, pid, msgid, no SD, JSON."""
    data = format_message(EVENT, "gw 1", 42)
    head, body = data.split(b" - ", 1)
    assert b"<109>1 2026-12-06T15:00:00+00:00 gw1 safe-address-gateway 42 audit" == head
    expected = {
        "seq": 7,
        "at": "2026-12-06T15:00:00+00:00",
        "actor": "user:rita",
        "action": "reject",
        "target": "Q1",
        "has_reason": True,
    }
    assert expected == json.loads(body)


@pytest.mark.asyncio
async def test_records_reach_a_udp_listener_and_never_their_reason(store: Store) -> None:
    """Each committed record is one datagram; the reason stays in the store."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(30)
        sink = SyslogSink(SyslogTarget("udp", "127.0.0.1", sock.getsockname()[1]), "gw")
        store.audit_sink = sink
        seq = await audit.record(store, "user:rita", "reject", "Q1", "12 Acacia Avenue")
        data = sock.recv(65536)
        await sink.close()
    assert b"Acacia" not in data
    record = json.loads(data.split(b" - ", 1)[1])
    assert (seq, "reject", True) == (record["seq"], record["action"], record["has_reason"])


@pytest.mark.asyncio
async def test_a_sink_that_cannot_send_warns_and_the_record_is_kept(
    store: Store, tmp_path: Path
) -> None:
    """No collector at the socket: a warning without values, and the record is written."""
    sink = SyslogSink(SyslogTarget("unix", path=str(tmp_path / "no-such-socket")), "gw")
    store.audit_sink = sink
    with capture_logs() as logs:
        seq = await audit.record(store, "user:rita", "reject", "Q1", "12 Acacia Avenue")
    await sink.close()
    assert [seq] == [r.seq for r in await audit.records(store, target="Q1")]
    assert ["audit record not sent to syslog"] == [e["event"] for e in logs]
    assert "Acacia" not in repr(logs)


@pytest.mark.asyncio
async def test_over_tcp_each_record_is_one_octet_counted_frame(store: Store) -> None:
    """RFC 6587 framing: the length, a space, the message; two records, two frames."""
    frames: asyncio.Queue[bytes] = asyncio.Queue()

    async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):  # the sink closed
            while length := await reader.readuntil(b" "):
                await frames.put(await reader.readexactly(int(length[:-1])))
        writer.close()

    server = await asyncio.start_server(collect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sink = SyslogSink(SyslogTarget("tcp", "127.0.0.1", port), "gw")
    store.audit_sink = sink
    try:
        first = await audit.record(store, "user:rita", "view", "Q1")
        second = await audit.record(store, "user:rob", "reject", "Q1", "12 Acacia Avenue")
        got = [await asyncio.wait_for(frames.get(), 30) for _ in range(2)]
    finally:
        await sink.close()
        server.close()
        await server.wait_closed()
    records = [json.loads(frame.split(b" - ", 1)[1]) for frame in got]
    assert [(first, False), (second, True)] == [(r["seq"], r["has_reason"]) for r in records]
    assert not any(b"Acacia" in frame for frame in got)
