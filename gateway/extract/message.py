"""EmailMessage -> segments for headers, subject and body; attachments to the dispatcher.

Headers are read raw (``raw_items``) and decoded with the cheap legacy helpers rather
than the ``policy.default`` header objects: parsing every header into objects costs more
than extracting a whole plain-text message, and we only need the text.
"""

from __future__ import annotations

import re
from email.errors import (
    FirstHeaderLineIsContinuationDefect,
    InvalidHeaderDefect,
    MisplacedEnvelopeHeaderDefect,
    MissingHeaderBodySeparatorDefect,
)
from email.message import Message

from gateway.extract import structure
from gateway.extract.context import Blob, Context, OverBudget, child, field_of
from gateway.extract.directory import directory_text
from gateway.extract.headers import Fields, decode_words
from gateway.extract.html import html_to_text
from gateway.extract.plain import read_data_images
from gateway.extract.textcodec import decode_text, decode_transfer, to_bytes
from gateway.parse import parse_message

_WANTED = frozenset(("content-type", "content-disposition", "content-transfer-encoding"))
_FOLD = re.compile(r"\r?\n[ \t]*|\r")
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_UUENCODE = frozenset(("x-uuencode", "uuencode", "x-uue", "uue"))
#: defects for which the parser dropped a header line (kept in ``defect.line``)
_DROPS_LINE = (FirstHeaderLineIsContinuationDefect, MisplacedEnvelopeHeaderDefect)
#: the parser's text for a field line with no name, which it drops
_NAMELESS = "Missing header name."
#: re-readings of ambiguous nodes per message, so nested ambiguity cannot multiply
_MAX_REREADS = 16


def raw_headers(part: Message) -> dict[str, str]:
    """First value of each header this module needs, raw and unfolded."""
    found: dict[str, str] = {}
    for name, value in part.raw_items():
        key = name.lower()
        if key in _WANTED and key not in found:
            found[key] = _FOLD.sub(" ", str(value))
    return found


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


class _Walk:
    """Walks one message's MIME tree, naming attachments in document order."""

    def __init__(self, ctx: Context, base: str, depth: int) -> None:
        self.ctx = ctx
        self.base = base
        self.depth = depth
        self.leaves = 0
        self.forwarded = 0
        self.rereads = 0
        self.images = 0
        self.fields = Fields()

    def message(self, msg: Message) -> None:
        """Every part of ``msg``, then the header fields met on the way."""
        self.part(msg, top=True)
        for name, text in self.fields.texts():
            self.ctx.add(field_of(self.base, name), text)

    def part(self, part: Message, top: bool = False, again: bool = False) -> None:
        """Dispatch one MIME node: container, embedded message or leaf; then the
        other readings a client may make of it.  ``again``: a re-reading, whose
        fields were read already."""
        self.ctx.check_time()
        self._defects(part)
        if not again:
            self.fields.read(part, top)
        headers = raw_headers(part)
        ctype, ct_params = split_params(headers.get("content-type", "text/plain"))
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            self._container(part, payload, ctype)
        elif ctype.startswith("multipart/"):
            self._undelimited(part, headers, ctype, ct_params.get("boundary"))
        else:
            self.leaf(part, headers, ctype, ct_params)
        self._rereadings(part)

    def _container(self, part: Message, payload: list[Message | str], ctype: str) -> None:
        """A node the parser split into parts: preamble and epilogue are body text."""
        for extra in (part.preamble, part.epilogue):
            if extra:
                self.ctx.add(field_of(self.base, "body"), decode_text(to_bytes(extra)))
        subs = [sub for sub in payload if isinstance(sub, Message)]
        if ctype.startswith("multipart/") or not payload:
            for sub in subs:
                self.part(sub)
        elif ctype == "message/delivery-status":
            self._delivery_status(subs)
        else:
            for sub in subs:
                self.embedded(sub, part)

    def _defects(self, part: Message) -> None:
        """Record the parser's defects; a header line it dropped is still text."""
        for defect in part.defects:
            self.ctx.defects.append(type(defect).__name__)
            where = field_of(self.base, "header:malformed")
            line = getattr(defect, "line", None)
            if isinstance(defect, _DROPS_LINE) and isinstance(line, str):
                self.ctx.add(where, decode_words(_FOLD.sub(" ", line)))
            elif isinstance(defect, InvalidHeaderDefect) and str(defect) == _NAMELESS:
                self.ctx.fail(where, structure.MALFORMED_HEADER)  # dropped with its text

    def _reread(self, where: str) -> bool:
        """Whether one more re-reading fits the walk's budget (else ``where`` fails)."""
        self.rereads += 1
        if self.rereads > _MAX_REREADS:
            self.ctx.fail(where, structure.AMBIGUOUS)
            return False
        return True

    def _undelimited(
        self, part: Message, headers: dict[str, str], ctype: str, declared: str | None
    ) -> None:
        """A multipart the parser could not split (no boundary, or one that never
        appears): its text as it stands and decoded with its declared transfer
        encoding, and the parts under each boundary a lenient reader could take."""
        where = field_of(self.base, "body")
        body = structure.raw_body(part) or ""
        cte = headers.get("content-transfer-encoding", "").strip().lower()
        bodies = [body]
        if cte in ("base64", "quoted-printable"):
            bodies.append(decode_transfer(body, cte).decode("ascii", "surrogateescape"))
        delimited = False
        for text in bodies:
            self.ctx.add(where, decode_text(to_bytes(text)))
            for boundary in structure.boundary_guesses(text, declared):
                reread = structure.as_multipart(part, ctype, text, boundary)
                if reread is not None and self._reread(where):
                    delimited = True
                    self.part(reread, again=True)
        if not delimited and any(structure.has_encoded_parts(t) for t in bodies):
            self.ctx.fail(where, structure.UNDELIMITED)

    def _rereadings(self, part: Message) -> None:
        """The readings of ``part`` a client may make where the parser chose one of
        several: conflicting content fields, fields after a line that is not one."""
        where = field_of(self.base, "body")
        readings = structure.content_readings(part)
        if readings is None:
            self.ctx.fail(where, structure.AMBIGUOUS)
            return
        if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in part.defects):
            past = structure.past_bad_line(part)
            readings += [past] if past is not None else []
        for reading in readings:
            if self._reread(where):
                self.part(reading, again=True)

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
                self.ctx.add(location, directory_text(text, ctype, anywhere=False))  # iCal/vCard
                if ctype == "text/html":
                    self.images = read_data_images(
                        self.ctx, text, location, self.depth, self.images
                    )
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
