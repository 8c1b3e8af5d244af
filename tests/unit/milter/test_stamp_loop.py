"""The milter's stamp and loop guard, with MTA bytes in and milter replies out: the
stamp inserted on top of accepted mail, a looping message refused with 554 5.4.6."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway.milter import protocol
from gateway.milter.server import MilterLimits, MilterServer
from gateway.stamp import Stamp
from gateway.verdict import Action

from .test_server import (
    QUEUE_ID,
    Conversation,
    FakeQuarantine,
    FakeScanner,
    packet,
    read_replies,
    z,
)

HOST = "gateway.council.test"
STAMP = Stamp("X-Safe-Address-Gateway", HOST, max_stamps=3, hop_count_limit=50)
CANARY = "27 Kingfisher Road"
HEADERS = [("From", " officer@council.test"), ("Subject", " Visit")]
BODY = f"She lives at {CANARY}.\r\n".encode()
OFFER = packet(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF))  # Postfix 3.7, version 6


def ours(host: str = HOST, name: str = STAMP.header, fold: str = " ") -> tuple[str, str]:
    """A stamp as Postfix sends a header (leading space kept, folds as bare LF)."""
    return name, f" scanned by{fold}{host}; id=0123;{fold}Sat, 05 Dec 2026 14:00:00 +0000"


def stream(headers: list[tuple[str, str]], offer: bytes = OFFER) -> bytes:
    """One connection's events for one message with ``headers`` on top of ours."""
    out = offer + packet(b"C", z("localhost") + b"4" + struct.pack("!H", 40000) + z("127.0.0.1"))
    out += packet(b"M", z("<officer@council.test>"))
    out += packet(b"R", z("<someone@landlord.example>"))
    for name, value in [*headers, *HEADERS]:
        out += packet(b"L", z(name, value))
    out += packet(b"B", BODY)
    out += packet(b"D", b"E" + z("i", QUEUE_ID))
    return out + packet(b"E")


def make_server(scanner: FakeScanner, quarantine: FakeQuarantine) -> MilterServer:
    return MilterServer(scanner, quarantine, MilterLimits(), STAMP)


async def eom_replies(server: MilterServer, data: bytes, count: int) -> list[tuple[bytes, bytes]]:
    """The replies after the optneg one: ``count`` of them, the last the verdict."""
    async with Conversation(server) as mta:
        await mta.send(data)
        negotiated, *rest = await mta.replies(count + 1)
        assert b"O" == negotiated[0]
        return rest


def inserted(data: bytes) -> tuple[int, str, str]:
    """SMFIR_INSHEADER's data -> (index, name, value)."""
    (index,) = struct.unpack_from("!I", data)
    name, value, end = data[4:].split(b"\0")
    assert b"" == end
    return index, name.decode(), value.decode()


@pytest.mark.asyncio
async def test_accepted_mail_gets_the_stamp_inserted_on_top_then_accept() -> None:
    """Deliver: SMFIR_INSHEADER at index 0 with the stamp (leading space, as agreed),
    then accept; the stamp names the host and carries nothing of the message."""
    scanner = FakeScanner(Action.DELIVER)
    (insert, accept) = await eom_replies(make_server(scanner, FakeQuarantine()), stream([]), 2)
    assert (b"a", b"") == accept
    assert b"i" == insert[0]
    index, name, value = inserted(insert[1])
    assert (0, STAMP.header) == (index, name)
    assert value.startswith(f" scanned by {HOST}; id=")
    assert value.endswith(" +0000")
    assert CANARY not in value
    assert STAMP.header.encode() not in scanner.seen[0].raw  # the stamp is not scanned


@pytest.mark.asyncio
@pytest.mark.parametrize(("action", "letter"), [(Action.QUARANTINE, b"d"), (Action.REJECT, b"y")])
async def test_mail_not_let_through_gets_no_stamp(action: Action, letter: bytes) -> None:
    """Held (discard) or refused: the verdict alone, no header packet before it."""
    server = make_server(FakeScanner(action), FakeQuarantine())
    ((got, _),) = await eom_replies(server, stream([]), 1)
    assert letter == got


@pytest.mark.asyncio
async def test_an_mta_that_does_not_offer_add_header_gets_a_plain_accept() -> None:
    """No SMFIF_ADDHDRS offered: no header packet (the MTA would drop the connection),
    accept, and a fixed warning at negotiation."""
    offer = packet(b"O", struct.pack("!III", 6, 0x1FF & ~protocol.SMFIF_ADDHDRS, 0x1FFFFF))
    with capture_logs() as logs:
        replies = await eom_replies(
            make_server(FakeScanner(), FakeQuarantine()), stream([], offer), 1
        )
    assert [(b"a", b"")] == replies
    assert "milter cannot add the stamp header" in [entry["event"] for entry in logs]


def test_an_older_protocol_version_gets_the_stamp_added_not_inserted() -> None:
    """Below version 6: SMFIR_ADDHEADER (every milter MTA knows it); no ADDHDRS: nothing."""
    old = protocol.negotiate(protocol.OptNeg(2, 0x3F, 0x7F))
    ((letter, data),) = read_replies(old.header_on_top("X-Stamp", "scanned by h"))
    assert (b"h", b"X-Stamp\0scanned by h\0") == (letter, data)
    bare = protocol.negotiate(protocol.OptNeg(6, 0, 0x1FFFFF))
    assert b"" == bare.header_on_top("X-Stamp", "scanned by h")


def test_insert_header_packet_layout() -> None:
    """``i``: uint32 index, name NUL, value NUL; the same checks as add header."""
    data = struct.pack("!I", 0) + b"X-Stamp\0v a l\0"
    assert struct.pack("!IB", 1 + len(data), ord("i")) + data == protocol.insert_header(
        0, "X-Stamp", "v a l"
    )
    packet_ = protocol.insert_header(7, "X-Stamp", "scanned", leading_space=True)
    ((letter, data),) = read_replies(packet_)
    assert (b"i", (7, "X-Stamp", " scanned")) == (letter, inserted(data))
    for name, value in (("X Stamp", "v"), ("X-Stamp", "a\r\nb")):
        with pytest.raises(ValueError, match="header"):
            protocol.insert_header(0, name, value)


@pytest.mark.asyncio
async def test_a_message_at_the_stamp_limit_is_refused_with_5_4_6_unscanned() -> None:
    """max_stamps of ours (Postfix's folded form among them): 554 5.4.6, nothing
    scanned or held; one fixed log line with the ids and counts, no content."""
    scanner, quarantine = FakeScanner(), FakeQuarantine()
    headers = [ours(), ours(fold="\n\t"), ours(name=STAMP.header.lower())]
    with capture_logs() as logs:
        ((letter, data),) = await eom_replies(make_server(scanner, quarantine), stream(headers), 1)
    assert (b"y", b"554 5.4.6 Routing loop detected\0") == (letter, data)
    assert ([], []) == (scanner.seen, quarantine.held)
    (line,) = [entry for entry in logs if entry["event"] == "routing loop refused"]
    assert (QUEUE_ID, 3, 0) == (line["queue_id"], line["stamps"], line["hops"])
    assert CANARY not in repr(logs)


@pytest.mark.asyncio
async def test_a_message_at_the_hop_count_limit_is_refused() -> None:
    """50 Received headers the MTA passes on (its own is never sent): 554 5.4.6."""
    received = [("Received", " from a by b; Sat, 05 Dec 2026 14:00:00 +0000")] * 50
    ((letter, data),) = await eom_replies(
        make_server(FakeScanner(), FakeQuarantine()), stream(received), 1
    )
    assert (b"y", b"554 5.4.6 Routing loop detected\0") == (letter, data)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mine=st.integers(min_value=0, max_value=5),
    others=st.integers(min_value=0, max_value=3),
    fold=st.sampled_from([" ", "\n\t", "\n "]),
)
def test_refused_exactly_when_our_stamps_reach_the_limit(mine: int, others: int, fold: str) -> None:
    """Any mix of our stamps (folded or not) and other gateways' stamps: 554 5.4.6 when
    ours reach max_stamps, else scanned, stamped and accepted."""
    headers = [ours(host="gw.elsewhere.test")] * others + [ours(fold=fold)] * mine

    async def run() -> tuple[list[tuple[bytes, bytes]], int]:
        scanner = FakeScanner()
        server = make_server(scanner, FakeQuarantine())
        looped = mine >= STAMP.max_stamps
        return await eom_replies(server, stream(headers), 1 if looped else 2), len(scanner.seen)

    replies, scanned = asyncio.run(run())
    if mine >= STAMP.max_stamps:
        assert ([(b"y", b"554 5.4.6 Routing loop detected\0")], 0) == (replies, scanned)
    else:
        assert ([b"i", b"a"], 1) == ([letter for letter, _ in replies], scanned)
