"""Milter wire codec, no I/O: MTA bytes -> typed commands; our verdicts -> reply bytes.

The Sendmail milter protocol, version 6 (libmilter's ``mfdef.h``; Postfix speaks it
too).  Every packet, both ways, is::

    uint32 length (big-endian, counts the command byte and the data) | char cmd | data

Strings are NUL-terminated.  Commands from the MTA, and their data:

    O optneg   uint32 version, uint32 actions (SMFIF_*), uint32 protocol (SMFIP_*)
    D macro    char stage (the command it precedes) then name NUL value NUL pairs
    C connect  hostname NUL, family char (U unknown, L unix, 4, 6); unless U:
               uint16 port, address NUL
    H helo     name NUL               M mail / R rcpt  args NUL..., first the address
    T data     (none)                 L header  name NUL value NUL
    N eoh      (none)                 B body    raw chunk (at most 64 KiB by default)
    E eom      raw final chunk        A abort   (none): forget the message, keep session
    Q quit     (none)                 K quit-nc (none): new session, same connection
    U unknown  the unknown SMTP command NUL

Replies from the filter: ``a`` accept, ``c`` continue, ``d`` discard, ``r`` reject,
``t`` tempfail, ``y`` reply code ("451 4.7.1 text" NUL), ``p`` progress (keep-alive, any
time before the reply to eom); at end of message only: ``h`` add header (name NUL value
NUL), ``i`` insert header (uint32 index, name NUL value NUL), ``q`` quarantine (reason
NUL), ``+``/``-`` add/delete recipient (not used here).
The filter answers ``O`` with its own ``O``: version, the subsets of the offered
SMFIF_* and SMFIP_* bits it wants, then (version 6, SMFIF_SETSYMLIST) per stage
``uint32 SMFIM_* stage`` + space-separated macro names NUL.

What we negotiate (:func:`negotiate`), so the MTA sends only what a scan needs and waits
only where we can give a verdict: no HELO, DATA, EOH or unknown-command events
(SMFIP_NOHELO/NODATA/NOEOH/NOUNKNOWN); connect, mail, rcpt, header and body events
without replies (SMFIP_NR_*): the one verdict is given at end of message.  Header
values keep their leading space (SMFIP_HDR_LEADSPC) so ``name + ":" + value`` is the
header exactly as received.  Actions: add header (the stamp), quarantine, and the macro
list.  We never ask for more than the MTA offered.

Strings are decoded as UTF-8 with ``surrogateescape``, so ``s.encode("utf-8",
"surrogateescape")`` gives back the exact bytes.  Malformed input raises
:class:`ProtocolError` with one of the fixed reasons below, never with input bytes.
Unknown command letters are errors, not skipped: we negotiate version 6, so an unknown
letter means the stream is out of step, and the MTA's ``milter_default_action =
tempfail`` is the safe outcome.  Packets are limited to 128 KiB: body chunks are at
most 64 KiB (no SMFIP_MDS_* flag is asked), and one header may be as long as Postfix's
``header_size_limit`` (100 KiB by default); the limit bounds memory per connection.

What Postfix does (``milter8.c``), which the server must expect: it sends the macros of
a stage even when the stage's event is not sent; it sends folded header values with
bare ``\n`` between lines and never sends its own first Received header; body chunks
carry CRLF lines and eom carries no data; ``q`` (quarantine, a hold) is not a verdict,
so it is followed by the final reply.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from gateway.errors import GatewayError

VERSION = 6
MAX_PACKET = 128 * 1024  # a 64 KiB body chunk, or one header up to 100 KiB

# SMFIF_*: actions the filter may take at end of message.
SMFIF_ADDHDRS = 0x01
SMFIF_CHGBODY = 0x02
SMFIF_ADDRCPT = 0x04
SMFIF_DELRCPT = 0x08
SMFIF_CHGHDRS = 0x10
SMFIF_QUARANTINE = 0x20
SMFIF_CHGFROM = 0x40
SMFIF_ADDRCPT_PAR = 0x80
SMFIF_SETSYMLIST = 0x100

# SMFIP_*: events the MTA need not send (NO*) or need not wait for (NR_*).
SMFIP_NOCONNECT = 0x01
SMFIP_NOHELO = 0x02
SMFIP_NOMAIL = 0x04
SMFIP_NORCPT = 0x08
SMFIP_NOBODY = 0x10
SMFIP_NOHDRS = 0x20
SMFIP_NOEOH = 0x40
SMFIP_NR_HDR = 0x80
SMFIP_NOUNKNOWN = 0x100
SMFIP_NODATA = 0x200
SMFIP_SKIP = 0x400
SMFIP_RCPT_REJ = 0x800
SMFIP_NR_CONN = 0x1000
SMFIP_NR_HELO = 0x2000
SMFIP_NR_MAIL = 0x4000
SMFIP_NR_RCPT = 0x8000
SMFIP_NR_DATA = 0x10000
SMFIP_NR_UNKN = 0x20000
SMFIP_NR_EOH = 0x40000
SMFIP_NR_BODY = 0x80000
SMFIP_HDR_LEADSPC = 0x100000

# SMFIM_*: stages a macro list can be requested for.
SMFIM_CONNECT = 0
SMFIM_HELO = 1
SMFIM_ENVFROM = 2
SMFIM_ENVRCPT = 3
SMFIM_DATA = 4
SMFIM_EOM = 5
SMFIM_EOH = 6

ACTIONS_WANTED = SMFIF_ADDHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST
PROTOCOL_WANTED = (
    SMFIP_NOHELO | SMFIP_NODATA | SMFIP_NOEOH | SMFIP_NOUNKNOWN
    | SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_BODY
    | SMFIP_HDR_LEADSPC
)  # fmt: skip

# Postfix makes session macros ({client_addr}, j) available at every stage, and the
# queue id ``i`` certainly at end of message (the queue file may be opened only at the
# first valid RCPT), so each is asked where it is sure to be set.
MACROS_WANTED: dict[int, tuple[str, ...]] = {
    SMFIM_CONNECT: ("j", "{daemon_name}", "{client_addr}"),
    SMFIM_ENVFROM: ("{auth_authen}", "{mail_addr}", "{client_addr}"),
    SMFIM_ENVRCPT: ("{rcpt_addr}",),
    SMFIM_EOM: ("i", "j", "{daemon_name}", "{auth_authen}", "{client_addr}", "{mail_addr}"),
}

# Fixed reasons; ProtocolError never carries input bytes.
BAD_LENGTH = "milter packet with an invalid length"
TOO_LONG = "milter packet longer than the limit"
UNKNOWN_COMMAND = "unknown milter command"
BAD_STRINGS = "milter strings malformed or not NUL-terminated"
BAD_MACROS = "milter macro list malformed"
BAD_FAMILY = "milter connect with an unknown address family"
BAD_OPTNEG = "milter option negotiation malformed"
OLD_VERSION = "milter protocol version too old"
UNEXPECTED_DATA = "milter command with unexpected data"


class ProtocolError(GatewayError):
    """The MTA sent bytes that are not a valid milter stream; close the connection."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class OptNeg:
    version: int
    actions: int
    protocol: int


@dataclass(frozen=True, slots=True)
class Macro:
    stage: str  # the command letter the macros precede, e.g. "M"
    macros: dict[str, str] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Connect:
    hostname: str
    family: str  # "U" unknown, "L" unix, "4", "6"
    port: int
    address: str


@dataclass(frozen=True, slots=True)
class Helo:
    name: str


@dataclass(frozen=True, slots=True)
class MailFrom:
    args: list[str] = field(hash=False)  # address first, then ESMTP parameters


@dataclass(frozen=True, slots=True)
class RcptTo:
    args: list[str] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Data:
    pass


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class EndOfHeaders:
    pass


@dataclass(frozen=True, slots=True)
class Body:
    chunk: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    chunk: bytes


@dataclass(frozen=True, slots=True)
class Abort:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class QuitNewConnection:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    data: bytes  # the SMTP command the MTA did not know, without the NUL


Command = (
    OptNeg | Macro | Connect | Helo | MailFrom | RcptTo | Data | Header | EndOfHeaders
    | Body | EndOfMessage | Abort | Quit | QuitNewConnection | Unknown
)  # fmt: skip


_HEADER = struct.Struct("!IB")
_OPTNEG = struct.Struct("!III")
_PORT = struct.Struct("!H")
_STAGE_LETTERS = frozenset("CHMRTLNBEU")
_FAMILIES = frozenset("UL46")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _strings(data: bytes) -> list[str]:
    """Split NUL-terminated strings; the data must end with a NUL."""
    if not data.endswith(b"\0"):
        raise ProtocolError(BAD_STRINGS)
    return [_text(part) for part in data[:-1].split(b"\0")]


def _exact(data: bytes, count: int) -> list[str]:
    parts = _strings(data)
    if len(parts) != count:
        raise ProtocolError(BAD_STRINGS)
    return parts


def _macro(data: bytes) -> Macro:
    if not data or chr(data[0]) not in _STAGE_LETTERS:
        raise ProtocolError(BAD_MACROS)
    rest = data[1:]
    if not rest:
        return Macro(chr(data[0]), {})
    if not rest.endswith(b"\0"):
        raise ProtocolError(BAD_MACROS)
    parts = [_text(part) for part in rest[:-1].split(b"\0")]
    if len(parts) % 2 or any(not name for name in parts[::2]):
        raise ProtocolError(BAD_MACROS)
    return Macro(chr(data[0]), dict(zip(parts[::2], parts[1::2], strict=True)))


def _connect(data: bytes) -> Connect:
    end = data.find(b"\0")
    if end < 0 or end + 1 >= len(data):
        raise ProtocolError(BAD_STRINGS)
    hostname, family, rest = _text(data[:end]), chr(data[end + 1]), data[end + 2 :]
    if family not in _FAMILIES:
        raise ProtocolError(BAD_FAMILY)
    if family == "U":
        if rest:
            raise ProtocolError(UNEXPECTED_DATA)
        return Connect(hostname, family, 0, "")
    if len(rest) < _PORT.size:
        raise ProtocolError(BAD_STRINGS)
    (port,) = _PORT.unpack_from(rest)
    (address,) = _exact(rest[_PORT.size :], 1)
    return Connect(hostname, family, port, address)


def _optneg(data: bytes) -> OptNeg:
    # libmilter reads the first 12 bytes and ignores any more; so do we.
    if len(data) < _OPTNEG.size:
        raise ProtocolError(BAD_OPTNEG)
    return OptNeg(*_OPTNEG.unpack_from(data))


def _args(data: bytes) -> list[str]:
    args = _strings(data)
    if not args[0]:
        raise ProtocolError(BAD_STRINGS)
    return args


def _unknown(data: bytes) -> Unknown:
    return Unknown(data[:-1] if data.endswith(b"\0") else data)


def _parse(letter: int, data: bytes) -> Command:  # noqa: PLR0911 (one case per letter)
    match chr(letter):
        case "O":
            return _optneg(data)
        case "D":
            return _macro(data)
        case "C":
            return _connect(data)
        case "H":
            return Helo(*_exact(data, 1))
        case "M":
            return MailFrom(_args(data))
        case "R":
            return RcptTo(_args(data))
        case "L":
            return Header(*_exact(data, 2))
        case "B":
            return Body(data)
        case "E":
            return EndOfMessage(data)
        case "U":
            return _unknown(data)
    empty = _EMPTY.get(chr(letter))
    if empty is None:
        raise ProtocolError(UNKNOWN_COMMAND)
    if data:
        raise ProtocolError(UNEXPECTED_DATA)
    return empty


_EMPTY: dict[str, Command] = {
    "T": Data(),
    "N": EndOfHeaders(),
    "A": Abort(),
    "Q": Quit(),
    "K": QuitNewConnection(),
}


class Decoder:
    """Turns the MTA's byte stream into commands, buffering a partial packet.

    After a :class:`ProtocolError` the stream is out of step: the decoder raises the
    same error on every later feed, and the caller closes the connection.
    """

    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        self._buffer = bytearray()
        self._max_packet = max_packet
        self._error: ProtocolError | None = None

    def feed(self, data: bytes) -> list[Command]:
        if self._error is not None:
            raise ProtocolError(self._error.reason)
        self._buffer += data
        commands: list[Command] = []
        offset = 0
        try:
            while (step := self._next(offset)) is not None:
                command, offset = step
                commands.append(command)
        except ProtocolError as error:
            self._error = error
            self._buffer.clear()
            raise
        # One deletion per feed: many packets in one read cost no repeated copying.
        del self._buffer[:offset]
        return commands

    @property
    def pending(self) -> int:
        """Bytes held of a packet not yet complete (0 at a packet boundary)."""
        return len(self._buffer)

    def _next(self, offset: int) -> tuple[Command, int] | None:
        buffer = self._buffer
        if len(buffer) - offset < 4:
            return None
        (length,) = struct.unpack_from("!I", buffer, offset)
        if length == 0:
            raise ProtocolError(BAD_LENGTH)
        if length > self._max_packet:
            raise ProtocolError(TOO_LONG)
        end = offset + 4 + length
        if len(buffer) < end:
            return None
        letter = buffer[offset + 4]
        return _parse(letter, bytes(buffer[offset + _HEADER.size : end])), end


# Encoders: our side of the conversation.


def _packet(letter: bytes, data: bytes = b"") -> bytes:
    return _HEADER.pack(len(data) + 1, letter[0]) + data


@dataclass(frozen=True, slots=True)
class Negotiation:
    """What we and the MTA agreed: the flags in force and our optneg reply."""

    version: int
    actions: int
    protocol: int
    reply: bytes

    @property
    def leading_space(self) -> bool:
        """Header values come, and must be sent, with their leading space."""
        return bool(self.protocol & SMFIP_HDR_LEADSPC)

    def header_on_top(self, name: str, value: str) -> bytes:
        """The header put first (inserted at index 0), or added last by an MTA that
        speaks an older version than 6 (which every MTA that speaks 6 knows); b"" if
        the MTA would not let us add headers at all."""
        if not self.actions & SMFIF_ADDHDRS:
            return b""
        if self.version >= VERSION:
            return insert_header(0, name, value, leading_space=self.leading_space)
        return add_header(name, value, leading_space=self.leading_space)

    def needs_reply(self, command: Command) -> bool:
        """Whether the MTA waits for an answer to this command."""
        if isinstance(command, OptNeg):
            return True
        flag = _NO_REPLY_FLAGS.get(type(command))
        return flag is not None and not self.protocol & flag


_NO_REPLY_FLAGS: dict[type, int] = {
    Connect: SMFIP_NR_CONN,
    Helo: SMFIP_NR_HELO,
    MailFrom: SMFIP_NR_MAIL,
    RcptTo: SMFIP_NR_RCPT,
    Data: SMFIP_NR_DATA,
    Header: SMFIP_NR_HDR,
    EndOfHeaders: SMFIP_NR_EOH,
    Body: SMFIP_NR_BODY,
    Unknown: SMFIP_NR_UNKN,
    EndOfMessage: 0,  # always answered
}


def negotiate(offer: OptNeg) -> Negotiation:
    """Our answer to the MTA's optneg: the wanted subset of what it offered."""
    if offer.version < 2:
        raise ProtocolError(OLD_VERSION)
    version = min(offer.version, VERSION)
    actions = offer.actions & ACTIONS_WANTED
    protocol = offer.protocol & PROTOCOL_WANTED
    data = _OPTNEG.pack(version, actions, protocol)
    if version >= 6 and actions & SMFIF_SETSYMLIST:
        for stage, names in MACROS_WANTED.items():
            data += struct.pack("!I", stage) + " ".join(names).encode("ascii") + b"\0"
    return Negotiation(version, actions, protocol, _packet(b"O", data))


def negotiate_reply(version: int, actions: int, protocol: int) -> bytes:
    return negotiate(OptNeg(version, actions, protocol)).reply


def continue_() -> bytes:
    return _packet(b"c")


def accept() -> bytes:
    return _packet(b"a")


def discard() -> bytes:
    return _packet(b"d")


def tempfail() -> bytes:
    return _packet(b"t")


def reject() -> bytes:
    return _packet(b"r")


def progress() -> bytes:
    return _packet(b"p")


_UNSAFE = re.compile(r"[^\x20-\x7e]+")
_ENHANCED = re.compile(r"([245])\.\d{1,3}\.\d{1,3}(?: |$)")


def _sanitise(text: str) -> str:
    """Printable ASCII on one line, no ``%`` (Sendmail reads the text as a format)."""
    return " ".join(_UNSAFE.sub(" ", text).replace("%", "").split())


def reply_code(code: int, text: str) -> bytes:
    """SMFIR_REPLYCODE: e.g. ``reply_code(451, "4.7.1 Try again later")``."""
    if not 400 <= code <= 599:
        raise ValueError("milter reply codes are 4xx or 5xx")
    clean = _sanitise(text)
    enhanced = _ENHANCED.match(clean)
    if enhanced is not None and enhanced.group(1) != str(code)[0]:
        raise ValueError("enhanced status class differs from the reply code")
    line = f"{code} {clean}" if clean else str(code)
    return _packet(b"y", line.encode("ascii") + b"\0")


_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")


def add_header(name: str, value: str, *, leading_space: bool = False) -> bytes:
    """SMFIR_ADDHEADER (below the others); pass ``leading_space`` when
    SMFIP_HDR_LEADSPC was agreed.  Needs SMFIF_ADDHDRS."""
    return _packet(b"h", _header_data(name, value, leading_space))


def insert_header(index: int, name: str, value: str, *, leading_space: bool = False) -> bytes:
    """SMFIR_INSHEADER (uint32 index, name NUL, value NUL): 0 puts it first (Postfix
    puts it above even its own Received line, which the filter never saw).  Needs
    SMFIF_ADDHDRS."""
    if not 0 <= index <= 0xFFFFFFFF:
        raise ValueError("header index out of range")
    return _packet(b"i", struct.pack("!I", index) + _header_data(name, value, leading_space))


def _header_data(name: str, value: str, leading_space: bool) -> bytes:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError("header name must be printable ASCII without ':'")
    if any(c in value for c in "\0\r\n"):
        raise ValueError("header value must be one line")
    text = " " + value if leading_space else value
    return name.encode("ascii") + b"\0" + text.encode("utf-8") + b"\0"


def quarantine(reason: str) -> bytes:
    """SMFIR_QUARANTINE: Postfix puts the message on hold; send the final reply after."""
    return _packet(b"q", _sanitise(reason).encode("ascii") + b"\0")
