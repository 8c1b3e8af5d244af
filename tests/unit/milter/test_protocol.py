"""The milter codec, tested with bytes alone: a Postfix conversation, any split, any
truncation, malformed packets, and the replies we send."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.milter import protocol
from gateway.milter.protocol import (
    Abort,
    Body,
    Connect,
    Data,
    Decoder,
    EndOfHeaders,
    EndOfMessage,
    Header,
    Helo,
    Macro,
    MailFrom,
    OptNeg,
    ProtocolError,
    Quit,
    QuitNewConnection,
    RcptTo,
    Unknown,
)

# A whole conversation as Postfix 3.x sends it to a version-6 milter, packet by packet:
# uint32 length (command byte + data), command letter, data.
POSTFIX_PACKETS = [
    b"\x00\x00\x00\x0dO\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff",
    b"\x00\x00\x00\x47"
    b"D"
    b"C"
    b"j\x00mail.example.org\x00{daemon_name}\x00submission\x00"
    b"{client_addr}\x00192.0.2.10\x00",
    b"\x00\x00\x00\x22Cclient.example.org\x004\xd4\x31192.0.2.10\x00",
    b"\x00\x00\x00\x14Hclient.example.org\x00",
    b"\x00\x00\x00\x34DM{auth_authen}\x00alice\x00{mail_addr}\x00alice@example.org\x00",
    b"\x00\x00\x00\x1fM<alice@example.org>\x00SIZE=1234\x00",
    b"\x00\x00\x00\x1eDR{rcpt_addr}\x00bob@example.net\x00",
    b"\x00\x00\x00\x13R<bob@example.net>\x00",
    b"\x00\x00\x00\x20DR{rcpt_addr}\x00carol@example.com\x00",
    b"\x00\x00\x00\x34R<carol@example.com>\x00ORCPT=rfc822;carol@example.com\x00",
    b"\x00\x00\x00\x21LFrom\x00 Alice <alice@example.org>\x00",
    b"\x00\x00\x00\x28LTo\x00 bob@example.net, carol@example.com\x00",
    b"\x00\x00\x00\x12LSubject\x00 Minutes\x00",
    b"\x00\x00\x00\x01N",
    b"\x00\x00\x00\x0dBHello Bob,\r\n",
    b"\x00\x00\x00\x0bBSee you.\r\n",
    b"\x00\x00\x00\x0fDEi\x004XYZ123ABC\x00",
    b"\x00\x00\x00\x01E",
    b"\x00\x00\x00\x01Q",
]
POSTFIX_STREAM = b"".join(POSTFIX_PACKETS)
POSTFIX_COMMANDS: list[protocol.Command] = [
    OptNeg(6, 0x1FF, 0x1FFFFF),
    Macro(
        "C",
        {"j": "mail.example.org", "{daemon_name}": "submission", "{client_addr}": "192.0.2.10"},
    ),
    Connect("client.example.org", "4", 54321, "192.0.2.10"),
    Helo("client.example.org"),
    Macro("M", {"{auth_authen}": "alice", "{mail_addr}": "alice@example.org"}),
    MailFrom(["<alice@example.org>", "SIZE=1234"]),
    Macro("R", {"{rcpt_addr}": "bob@example.net"}),
    RcptTo(["<bob@example.net>"]),
    Macro("R", {"{rcpt_addr}": "carol@example.com"}),
    RcptTo(["<carol@example.com>", "ORCPT=rfc822;carol@example.com"]),
    Header("From", " Alice <alice@example.org>"),
    Header("To", " bob@example.net, carol@example.com"),
    Header("Subject", " Minutes"),
    EndOfHeaders(),
    Body(b"Hello Bob,\r\n"),
    Body(b"See you.\r\n"),
    Macro("E", {"i": "4XYZ123ABC"}),
    EndOfMessage(b""),
    Quit(),
]
REASONS = {
    protocol.BAD_LENGTH,
    protocol.TOO_LONG,
    protocol.UNKNOWN_COMMAND,
    protocol.BAD_STRINGS,
    protocol.BAD_MACROS,
    protocol.BAD_FAMILY,
    protocol.BAD_OPTNEG,
    protocol.UNEXPECTED_DATA,
}


def packet(letter: bytes, data: bytes = b"") -> bytes:
    return struct.pack("!I", len(data) + 1) + letter + data


def outcome(stream: bytes) -> list[protocol.Command] | ProtocolError:
    """What a fresh decoder makes of a stream: its commands, or the error it raised."""
    try:
        return Decoder().feed(stream)
    except ProtocolError as error:
        return error


def test_recorded_packets_carry_their_own_lengths() -> None:
    """Each literal packet's length field counts its command byte and data."""
    assert [len(p) - 4 for p in POSTFIX_PACKETS] == [
        struct.unpack("!I", p[:4])[0] for p in POSTFIX_PACKETS
    ]


def test_postfix_conversation_decodes_to_its_commands() -> None:
    """A whole Postfix conversation fed at once decodes to the expected commands."""
    decoder = Decoder()
    assert POSTFIX_COMMANDS == decoder.feed(POSTFIX_STREAM)
    assert 0 == decoder.pending


@given(st.lists(st.integers(0, len(POSTFIX_STREAM)), max_size=40))
def test_any_split_decodes_the_same(cuts: list[int]) -> None:
    """The stream cut into any chunks decodes to the same commands."""
    bounds = [0, *sorted(cuts), len(POSTFIX_STREAM)]
    decoder = Decoder()
    commands = []
    for start, end in itertools.pairwise(bounds):
        commands += decoder.feed(POSTFIX_STREAM[start:end])
    assert POSTFIX_COMMANDS == commands


@given(st.integers(0, len(POSTFIX_STREAM)))
def test_truncation_yields_only_whole_packets(cut: int) -> None:
    """A truncated stream yields the commands of whole packets and holds the rest."""
    ends, total = [], 0
    for p in POSTFIX_PACKETS:
        total += len(p)
        ends.append(total)
    whole = sum(1 for end in ends if end <= cut)
    decoder = Decoder()
    assert POSTFIX_COMMANDS[:whole] == decoder.feed(POSTFIX_STREAM[:cut])
    assert cut - (ends[whole - 1] if whole else 0) == decoder.pending


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"\x00\x00\x00\x00Q", protocol.BAD_LENGTH),
        (b"\xff\xff\xff\xffB", protocol.TOO_LONG),
        (b"\x80\x00\x00\x01B", protocol.TOO_LONG),
        (struct.pack("!I", protocol.MAX_PACKET + 1), protocol.TOO_LONG),
        (packet(b"Z"), protocol.UNKNOWN_COMMAND),
        (packet(b"c"), protocol.UNKNOWN_COMMAND),
        (packet(b"H", b"client.example.org"), protocol.BAD_STRINGS),
        (packet(b"H", b"a\x00b\x00"), protocol.BAD_STRINGS),
        (packet(b"L", b"Subject\x00 secret"), protocol.BAD_STRINGS),
        (packet(b"L", b"Subject\x00"), protocol.BAD_STRINGS),
        (packet(b"M", b"<a@example.org>"), protocol.BAD_STRINGS),
        (packet(b"M", b"\x00"), protocol.BAD_STRINGS),
        (packet(b"R"), protocol.BAD_STRINGS),
        (packet(b"D", b"Mi\x00"), protocol.BAD_MACROS),
        (packet(b"D", b"Mi\x00Q1\x00j\x00"), protocol.BAD_MACROS),
        (packet(b"D", b"Mi\x00Q1"), protocol.BAD_MACROS),
        (packet(b"D", b"M\x00value\x00"), protocol.BAD_MACROS),
        (packet(b"D", b"Zi\x00Q1\x00"), protocol.BAD_MACROS),
        (packet(b"D"), protocol.BAD_MACROS),
        (packet(b"C", b"host\x00X\x00\x19127.0.0.1\x00"), protocol.BAD_FAMILY),
        (packet(b"C", b"host"), protocol.BAD_STRINGS),
        (packet(b"C", b"host\x00"), protocol.BAD_STRINGS),
        (packet(b"C", b"host\x004\x00"), protocol.BAD_STRINGS),
        (packet(b"C", b"host\x004\x00\x19127.0.0.1"), protocol.BAD_STRINGS),
        (packet(b"C", b"host\x00Uextra"), protocol.UNEXPECTED_DATA),
        (packet(b"O", b"\x00\x00\x00\x06"), protocol.BAD_OPTNEG),
        (packet(b"Q", b"x"), protocol.UNEXPECTED_DATA),
        (packet(b"A", b"x"), protocol.UNEXPECTED_DATA),
    ],
)
def test_malformed_packet_raises_a_fixed_reason(stream: bytes, reason: str) -> None:
    """Each kind of malformed packet raises ProtocolError with its fixed reason."""
    with pytest.raises(ProtocolError) as caught:
        Decoder().feed(stream)
    assert reason == caught.value.reason
    assert (reason,) == caught.value.args


def test_oversized_length_is_refused_before_the_data_arrives() -> None:
    """A huge length is refused from the header alone, so nothing is buffered for it."""
    with pytest.raises(ProtocolError):
        Decoder().feed(b"\x10\x00\x00\x00")


def test_a_failed_decoder_stays_failed() -> None:
    """After a protocol error, later feeds raise too instead of resynchronising."""
    decoder = Decoder()
    with pytest.raises(ProtocolError):
        decoder.feed(packet(b"Z"))
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(packet(b"Q"))
    assert protocol.UNKNOWN_COMMAND == caught.value.reason


@given(st.binary(max_size=300))
def test_random_bytes_never_crash_nor_echo(data: bytes) -> None:
    """Arbitrary bytes decode or raise ProtocolError with a fixed reason, never more."""
    result = outcome(data)
    if isinstance(result, ProtocolError):
        assert result.reason in REASONS
        assert (result.reason,) == result.args


@given(st.sampled_from(b"ODCHMRTLNBEAQKU"), st.binary(max_size=200))
def test_any_payload_for_a_known_command_is_handled(letter: int, data: bytes) -> None:
    """A well-framed packet with any payload is a command or a fixed ProtocolError."""
    result = outcome(packet(bytes([letter]), data))
    if isinstance(result, ProtocolError):
        assert result.reason in REASONS
    else:
        assert 1 == len(result)


@given(st.text(max_size=40), st.text(max_size=40))
def test_strings_keep_their_exact_bytes(name: str, value: str) -> None:
    """Header strings round-trip to the exact bytes the MTA sent, even non-UTF-8."""
    raw_name = name.replace("\0", "").encode() + b"\xff"
    raw_value = value.replace("\0", "").encode() + b"\xe9"
    (header,) = Decoder().feed(packet(b"L", raw_name + b"\0" + raw_value + b"\0"))
    assert isinstance(header, Header)
    assert raw_value == header.value.encode("utf-8", "surrogateescape")
    assert raw_name == header.name.encode("utf-8", "surrogateescape")


def test_other_commands_decode() -> None:
    """Data, abort, quit-new-connection, unknown, unix and unknown-family connects."""
    stream = (
        packet(b"T")
        + packet(b"A")
        + packet(b"K")
        + packet(b"U", b"XFOO bar\x00")
        + packet(b"C", b"localhost\x00L\x00\x00/run/postfix.sock\x00")
        + packet(b"C", b"localhost\x00U")
        + packet(b"C", b"[2001:db8::1]\x006\x00\x19" + b"2001:db8::1\x00")
        + packet(b"D", b"C")
        + packet(b"B")
        + packet(b"E", b"last chunk")
    )
    assert [
        Data(),
        Abort(),
        QuitNewConnection(),
        Unknown(b"XFOO bar"),
        Connect("localhost", "L", 0, "/run/postfix.sock"),
        Connect("localhost", "U", 0, ""),
        Connect("[2001:db8::1]", "6", 25, "2001:db8::1"),
        Macro("C", {}),
        Body(b""),
        EndOfMessage(b"last chunk"),
    ] == Decoder().feed(stream)


# Replies: bytes checked against the spec.


def test_simple_replies_are_one_letter_packets() -> None:
    """Accept, continue, discard, reject, tempfail and progress are bare letters."""
    assert [
        b"\x00\x00\x00\x01a",
        b"\x00\x00\x00\x01c",
        b"\x00\x00\x00\x01d",
        b"\x00\x00\x00\x01r",
        b"\x00\x00\x00\x01t",
        b"\x00\x00\x00\x01p",
    ] == [
        protocol.accept(),
        protocol.continue_(),
        protocol.discard(),
        protocol.reject(),
        protocol.tempfail(),
        protocol.progress(),
    ]


def test_reply_code_is_one_clean_line() -> None:
    """A reply code carries code, text, NUL; CR, LF, % and controls are removed."""
    assert b"\x00\x00\x00\x1by451 4.7.1 Try again later\x00" == protocol.reply_code(
        451, "4.7.1 Try again\r\nlater"
    )
    assert b"\x00\x00\x00\x14y550 5.7.1 100 held\x00" == protocol.reply_code(
        550, "5.7.1 100% held\x00"
    )
    assert b"\x00\x00\x00\x05y421\x00" == protocol.reply_code(421, "%\r\n")


@pytest.mark.parametrize(("code", "text"), [(250, "ok"), (600, "x"), (451, "5.7.1 no")])
def test_reply_code_refuses_what_the_mta_would_not_take(code: int, text: str) -> None:
    """Codes outside 4xx/5xx, or an enhanced status of another class, are refused."""
    with pytest.raises(ValueError, match=r"reply code|enhanced"):
        protocol.reply_code(code, text)


def test_add_header_and_quarantine_packets() -> None:
    """Add-header carries name NUL value NUL; quarantine carries a clean reason."""
    assert b"\x00\x00\x00\x0chX-Gw\x00 held\x00" == protocol.add_header(
        "X-Gw", "held", leading_space=True
    )
    assert b"\x00\x00\x00\x0bhX-Gw\x00held\x00" == protocol.add_header("X-Gw", "held")
    assert b"\x00\x00\x00\x0cqheld by gw\x00" == protocol.quarantine("held\nby gw")


@pytest.mark.parametrize(("name", "value"), [("X:Y", "v"), ("X Y", "v"), ("X", "a\r\nb")])
def test_add_header_refuses_what_would_break_the_message(name: str, value: str) -> None:
    """Header names with ':' or space, and values with line breaks, are refused."""
    with pytest.raises(ValueError, match="header"):
        protocol.add_header(name, value)


def test_negotiation_with_postfix_asks_only_what_a_scan_needs() -> None:
    """Against Postfix's full offer we ask for the wanted flags and macro lists."""
    agreed = protocol.negotiate(OptNeg(6, 0x1FF, 0x1FFFFF))
    macros = (
        b"\x00\x00\x00\x00j {daemon_name} {client_addr}\x00"
        b"\x00\x00\x00\x02{auth_authen} {mail_addr} {client_addr}\x00"
        b"\x00\x00\x00\x03{rcpt_addr}\x00"
        b"\x00\x00\x00\x05i j {daemon_name} {auth_authen} {client_addr} {mail_addr}\x00"
    )
    body = b"O\x00\x00\x00\x06\x00\x00\x01\x21\x00\x18\xd3\xc2" + macros
    assert struct.pack("!I", len(body)) + body == agreed.reply
    assert (6, 0x121, 0x18D3C2) == (agreed.version, agreed.actions, agreed.protocol)
    assert agreed.leading_space
    assert agreed.reply == protocol.negotiate_reply(6, 0x1FF, 0x1FFFFF)


def test_negotiation_never_asks_more_than_offered() -> None:
    """An old MTA offering little gets a subset of its offer and no macro list."""
    agreed = protocol.negotiate(OptNeg(2, 0x01, 0x7F))
    assert b"\x00\x00\x00\x0dO\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x42" == (agreed.reply)
    assert not agreed.leading_space


def test_negotiation_refuses_version_1() -> None:
    """Version 1 MTAs are refused with a fixed reason."""
    with pytest.raises(ProtocolError, match=protocol.OLD_VERSION):
        protocol.negotiate(OptNeg(1, 0x1FF, 0x7F))


def test_needs_reply_follows_the_agreed_no_reply_flags() -> None:
    """Only commands the MTA waits for get an answer under the agreed flags."""
    full = protocol.negotiate(OptNeg(6, 0x1FF, 0x1FFFFF))
    answered = [c for c in POSTFIX_COMMANDS if full.needs_reply(c)]
    expected = [
        OptNeg(6, 0x1FF, 0x1FFFFF),
        Helo("client.example.org"),
        EndOfHeaders(),
        EndOfMessage(b""),
    ]
    assert expected == answered  # Postfix, told NOHELO and NOEOH, sends neither
    old = protocol.negotiate(OptNeg(2, 0x01, 0x7F))
    # optneg, connect, helo, mail, 2 rcpt, 3 headers, eoh, 2 body chunks, eom
    assert 13 == sum(1 for c in POSTFIX_COMMANDS if old.needs_reply(c))
