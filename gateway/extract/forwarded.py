"""Forwarded mail (.eml bytes, Outlook .msg) -> its fields and attachments, one level down.

A parsed message/rfc822 part is walked by ``message.walk_message`` directly; this module
handles messages that arrive as attachment bytes. Outlook .msg files are OLE compound
files: ``streams_to_msg`` turns their stream table into a ``MsgContent`` without any
I/O, so it can be tested with a dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import olefile  # type: ignore[import-untyped]

from gateway.extract.context import ENCRYPTED, Blob, Context, child, field_of
from gateway.extract.html import html_to_text
from gateway.extract.message import walk_message
from gateway.extract.textcodec import decode_text
from gateway.parse import parse_message

UNSUPPORTED = "legacy format, partly read"
_ATTACH = "__attach_version1.0_#"
_EMBEDDED = "__substg1.0_3701000D/"
_LEGACY_OFFICE = frozenset(("WordDocument", "Workbook", "Book", "PowerPoint Document"))
_FIELDS = {
    "0037": "subject",
    "0E04": "header:to",
    "0E03": "header:cc",
    "0E02": "header:bcc",
    "0C1A": "header:from",
    "0C1F": "header:from",
    "5D01": "header:from",
    "1000": "body",
}


@dataclass(slots=True)
class MsgContent:
    """What an Outlook message carries, decoded from its property streams."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    embedded: list[tuple[str, MsgContent]] = field(default_factory=list)
    #: every name an attachment shows (long, short, display name), with or without data
    names: list[str] = field(default_factory=list)


def _property(streams: Mapping[str, bytes], tag: str) -> str | bytes | None:
    """Value of property ``tag`` (4 hex digits id): unicode, 8-bit or binary form."""
    for suffix in ("001F", "001E", "0102"):
        data = streams.get(f"__substg1.0_{tag}{suffix}")
        if data is None:
            continue
        if suffix == "001F":
            return data.decode("utf-16-le", "replace").rstrip("\x00")
        return decode_text(data).rstrip("\x00") if suffix == "001E" else data
    return None


def _below(streams: Mapping[str, bytes], prefix: str) -> dict[str, bytes]:
    """The streams under storage ``prefix`` with that prefix removed."""
    return {k[len(prefix) :]: v for k, v in streams.items() if k.startswith(prefix)}


def _attachments(streams: Mapping[str, bytes], content: MsgContent) -> None:
    """Attachment storages: plain data (3701 binary) or an embedded message."""
    storages = sorted({k.split("/", 1)[0] for k in streams if k.startswith(_ATTACH)})
    for index, storage in enumerate(storages, 1):
        inner = _below(streams, storage + "/")
        shown = [_property(inner, tag) for tag in ("3707", "3704", "3001")]
        names = [n.replace("/", "_") for n in shown if isinstance(n, str) and n.strip()]
        content.names += names
        name = names[0] if names else f"part{index}.bin"
        sub = _below(inner, _EMBEDDED)
        if sub:
            content.embedded.append((name, streams_to_msg(sub)))
            continue
        data = inner.get("__substg1.0_37010102")
        if data:
            content.attachments.append((name, data))


def streams_to_msg(streams: Mapping[str, bytes]) -> MsgContent:
    """Decode an Outlook message from its streams, keyed by ``/``-joined OLE path."""
    content = MsgContent()
    for tag, name in _FIELDS.items():
        value = _property(streams, tag)
        if isinstance(value, str) and value.strip():
            content.fields.setdefault(name, []).append(value)
    html = _property(streams, "1013")
    if html is not None:
        markup = decode_text(html) if isinstance(html, bytes) else html
        content.fields.setdefault("body", []).append(html_to_text(markup))
    _attachments(streams, content)
    return content


def _emit(ctx: Context, content: MsgContent, base: str, depth: int) -> None:
    """Segments for one decoded Outlook message; attachments go to the dispatcher."""
    ctx.names += [child(base, name) for name in dict.fromkeys(content.names)]
    for name, values in content.fields.items():
        for value in dict.fromkeys(values):
            ctx.add(field_of(base, name), value)
    for name, data in content.attachments:
        ctx.read_blob(ctx, Blob(data, name, "application/octet-stream", child(base, name), depth))
    for name, sub in content.embedded:
        if depth + 1 > ctx.limits.max_depth:
            ctx.fail(child(base, name), "too deeply nested")
        else:
            _emit(ctx, sub, child(base, name), depth + 1)


def read_msg(ctx: Context, blob: Blob) -> None:
    """An OLE file: Outlook message, encrypted Office file, or legacy Office document."""
    if blob.depth + 1 > ctx.limits.max_depth:
        ctx.fail(blob.location, "too deeply nested")
        return
    with olefile.OleFileIO(blob.data) as ole:
        paths = ["/".join(p) for p in ole.listdir(streams=True, storages=False)]
        if "EncryptedPackage" in paths:
            ctx.fail(blob.location, ENCRYPTED)
            return
        legacy = sorted(_LEGACY_OFFICE.intersection(paths))
        if legacy:
            _legacy_office(ctx, blob, [ole.openstream(p).read() for p in legacy])
            return
        streams = {p: ole.openstream(p).read() for p in paths if "__substg1.0_" in p}
    if streams:
        _emit(ctx, streams_to_msg(streams), blob.location, blob.depth + 1)


_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e\xa0-\xff]\x00|[\t\r\n]\x00){4,}")
_BYTE_RUN = re.compile(rb"[\x20-\x7e\xa0-\xff\t\r\n]{4,}")


def _legacy_office(ctx: Context, blob: Blob, streams: list[bytes]) -> None:
    """Word 97-2003, Excel and PowerPoint binaries: their text runs, as a fallback.

    Running text survives (Word keeps it as UTF-16 or 8-bit runs); numbers stored as
    numbers (spreadsheet cells) do not, so the part is also marked partly read and
    the policy treats it as content it could not fully scan."""
    runs: list[str] = []
    for data in streams:
        runs += [m.group().decode("utf-16-le", "replace") for m in _UTF16_RUN.finditer(data)]
        runs += [m.group().decode("cp1252", "replace") for m in _BYTE_RUN.finditer(data)]
    text = "\n".join(r.strip() for r in runs if r.strip())
    if text:
        ctx.add(blob.location, text)
    ctx.fail(blob.location, UNSUPPORTED)


def read_eml(ctx: Context, blob: Blob) -> None:
    """A message attached as bytes (.eml, or message/rfc822 the parser left encoded)."""
    walk_message(ctx, parse_message(blob.data), blob.location, blob.depth + 1)
