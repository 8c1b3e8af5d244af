"""EmailMessage -> segments for headers, subject and body; attachments to the dispatcher.

Headers are read raw (``raw_items``) and decoded with the cheap legacy helpers rather
than the ``policy.default`` header objects: parsing every header into objects costs more
than extracting a whole plain-text message, and we only need the text.
"""

from __future__ import annotations

import email.header
import email.utils
import re
from email.message import Message

from gateway.extract.context import Blob, Context, OverBudget, child, field_of
from gateway.extract.html import html_to_text
from gateway.extract.textcodec import decode_text, decode_transfer, to_bytes
from gateway.parse import parse_message

_ADDRESS_HEADERS = ("to", "cc", "bcc", "reply-to", "from")
_WANTED = frozenset(
    (
        "subject",
        "content-type",
        "content-disposition",
        "content-transfer-encoding",
        *_ADDRESS_HEADERS,
    )
)
_FOLD = re.compile(r"\r?\n[ \t]*|\r")
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
#: characters that need the full RFC 5322 address parser (quotes, comments, groups)
_COMPLEX = frozenset('"()\\:;')
_UUENCODE = frozenset(("x-uuencode", "uuencode", "x-uue", "uue"))


def raw_headers(part: Message) -> dict[str, str]:
    """First value of each header this module needs, raw and unfolded."""
    found: dict[str, str] = {}
    for name, value in part.raw_items():
        key = name.lower()
        if key in _WANTED and key not in found:
            found[key] = _FOLD.sub(" ", str(value))
    return found


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words and 8-bit bytes in a raw header value."""
    if not value.isascii():
        value = decode_text(to_bytes(value))
    if "=?" not in value:
        return value.strip()
    try:
        words = email.header.decode_header(value)
    except Exception:
        return value.strip()
    return "".join(
        decode_text(chunk, charset) if isinstance(chunk, bytes) else chunk
        for chunk, charset in words
    ).strip()


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """Split a plain ``a@b, Name <c@d>`` list without the slow full parser."""
    if any(c in value for c in _COMPLEX):
        return None
    pairs = []
    for piece in value.split(","):
        name, _, addr = piece.partition("<")
        if addr:
            pairs.append((name.strip(), addr.partition(">")[0].strip()))
        elif piece.strip():
            pairs.append(("", piece.strip()))
    return pairs


def address_text(value: str) -> str:
    """Display names and addresses of an address header, one address per line."""
    lines = []
    pairs = _simple_addresses(value)
    if pairs is None:
        pairs = email.utils.getaddresses([value])
    for raw_name, addr in pairs:
        name = decode_words(raw_name)
        shown = f"{name} <{addr}>" if name and addr else name or addr
        if shown:
            lines.append(shown)
    return "\n".join(lines) if lines else decode_words(value)


def split_params(value: str) -> tuple[str, dict[str, str]]:
    """Main value (lowercased) and simple parameters of a Content-* header."""
    main = value.split(";", 1)[0].strip().lower()
    params: dict[str, str] = {}
    for key, raw in _PARAM.findall(value):
        val = raw.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1].replace('\\"', '"')
        params.setdefault(key.lower(), val)
    return main, params


def add_headers(ctx: Context, headers: dict[str, str], base: str) -> None:
    """Segments for the subject and the address headers of one message."""
    subject = headers.get("subject")
    if subject:
        ctx.add(field_of(base, "subject"), decode_words(subject))
    for name in _ADDRESS_HEADERS:
        value = headers.get(name)
        if value:
            try:
                text = address_text(value)
            except Exception:
                text = decode_words(value)
            ctx.add(field_of(base, f"header:{name}"), text)


class _Walk:
    """Walks one message's MIME tree, naming attachments in document order."""

    def __init__(self, ctx: Context, base: str, depth: int) -> None:
        self.ctx = ctx
        self.base = base
        self.depth = depth
        self.leaves = 0
        self.forwarded = 0

    def message(self, msg: Message) -> None:
        """Headers, then every part of ``msg``."""
        add_headers(self.ctx, raw_headers(msg), self.base)
        self.part(msg, top=True)

    def part(self, part: Message, top: bool = False) -> None:
        """Dispatch one MIME node: container, embedded message or leaf."""
        self.ctx.check_time()
        self.ctx.defects.extend(type(d).__name__ for d in part.defects)
        headers = raw_headers(part)
        ctype, ct_params = split_params(headers.get("content-type", "text/plain"))
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            if ctype.startswith("multipart/") or not payload:
                for sub in payload:
                    if isinstance(sub, Message):
                        self.part(sub)
                return
            if ctype == "message/delivery-status":
                self._delivery_status([m for m in payload if isinstance(m, Message)])
                return
            for sub in payload:
                if isinstance(sub, Message):
                    self.embedded(sub, part)
            return
        self.leaf(part, headers, ctype, ct_params)

    def _delivery_status(self, blocks: list[Message]) -> None:
        """DSN header blocks as one attachment of ``name: value`` lines."""
        self.leaves += 1
        lines = [f"{k}: {decode_words(str(v))}" for b in blocks for k, v in b.raw_items()]
        self.ctx.add(child(self.base, "delivery-status"), "\n".join(lines))

    def embedded(self, sub: Message, container: Message) -> None:
        """A message/rfc822 part: its own headers, body and attachments, one level down."""
        self.leaves += 1
        headers = raw_headers(container)
        name = _filename(container, headers) or self._forwarded_name()
        walk_message(self.ctx, _undo_encoding(sub, headers), child(self.base, name), self.depth + 1)

    def _forwarded_name(self) -> str:
        self.forwarded += 1
        return "forwarded.eml" if self.forwarded == 1 else f"forwarded{self.forwarded}.eml"

    def leaf(
        self, part: Message, headers: dict[str, str], ctype: str, ct_params: dict[str, str]
    ) -> None:
        """A part with content: body text, or an attachment for the dispatcher."""
        self.leaves += 1
        disposition, _ = split_params(headers.get("content-disposition", ""))
        filename = _filename(part, headers)
        if not filename and ctype == "message/rfc822":  # left encoded by the parser
            filename = self._forwarded_name()
        is_body = ctype.startswith("text/") and disposition != "attachment" and not filename
        location = (
            field_of(self.base, "body")
            if is_body
            else child(self.base, filename or f"part{self.leaves}.bin")
        )
        try:
            data = _part_bytes(part, headers)
            self.ctx.count_bytes(len(data))
            if len(data) > self.ctx.limits.max_part_bytes:
                self.ctx.fail(location, "over size limit")
            elif is_body:
                text = decode_text(data, ct_params.get("charset")).replace("\r\n", "\n")
                self.ctx.add(location, html_to_text(text) if ctype == "text/html" else text)
            else:
                self.ctx.read_blob(
                    self.ctx, Blob(data, filename or "", ctype, location, self.depth)
                )
        except OverBudget:
            raise
        except Exception:
            self.ctx.fail(location, "corrupt")


def _filename(part: Message, headers: dict[str, str]) -> str | None:
    """Attachment filename from Content-Disposition or Content-Type, if any."""
    if "name" not in headers.get("content-disposition", "").lower() and "name" not in (
        headers.get("content-type", "").lower()
    ):
        return None
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        _, params = split_params(headers.get("content-disposition", ""))
        name = params.get("filename") or split_params(headers.get("content-type", ""))[1].get(
            "name"
        )
    return decode_words(name).replace("/", "_").strip() or None if name else None


def _undo_encoding(sub: Message, container_headers: dict[str, str]) -> Message:
    """The real message when a message/rfc822 part was base64/QP-encoded on the wire.

    The parser does not decode such a part: it yields a header-less message whose body
    is the encoded text, so decode that text and parse it again.
    """
    cte = container_headers.get("content-transfer-encoding", "").strip().lower()
    payload = sub.get_payload()
    if cte not in ("base64", "quoted-printable") or sub.keys() or not isinstance(payload, str):
        return sub
    return parse_message(decode_transfer(payload, cte))


def _part_bytes(part: Message, headers: dict[str, str]) -> bytes:
    """Decoded bytes of a leaf part."""
    cte = headers.get("content-transfer-encoding", "").strip().lower()
    if cte in _UUENCODE:
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    # get_payload() would parse Content-Transfer-Encoding into a header object again,
    # which costs more than decoding a plain body; the raw payload is all we need.
    payload = getattr(part, "_payload", None)
    if isinstance(payload, bytes):
        return payload
    if not isinstance(payload, str):
        return b""
    return decode_transfer(payload, cte)


def walk_message(ctx: Context, msg: Message, base: str, depth: int) -> None:
    """Extract one message (the top one with ``base=""``, or a forwarded one)."""
    if depth > ctx.limits.max_depth:
        ctx.fail(base or "message", "too deeply nested")
        return
    _Walk(ctx, base, depth).message(msg)
