"""Text-like attachments (txt, csv, html, xml, json, rtf, any text/*) -> segments.

Structured formats fall back to their raw decoded text when they do not parse, so a
malformed JSON or XML file is still scanned rather than reported unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from striprtf.striprtf import rtf_to_text  # type: ignore[import-untyped]

from gateway.extract.context import Blob, Context
from gateway.extract.directory import directory_text
from gateway.extract.html import html_to_text, inline_images
from gateway.extract.textcodec import decode_text
from gateway.extract.xmltext import GENERIC, xml_to_text


def read_text(ctx: Context, blob: Blob) -> None:
    """Plain text, CSV and any other text/* subtype; an iCalendar or vCard file also
    as its reader shows it (lines unfolded, values decoded), besides its raw text."""
    text = decode_text(blob.data).replace("\r\n", "\n")
    ctx.add(blob.location, text)
    ctx.add(blob.location, directory_text(text, blob.content_type, blob.name))


def read_html(ctx: Context, blob: Blob) -> None:
    """An HTML attachment, as text, and the pictures in its ``data:`` URLs."""
    markup = decode_text(blob.data)
    ctx.add(blob.location, html_to_text(markup))
    read_data_images(ctx, markup, blob.location, blob.depth)


def read_data_images(ctx: Context, markup: str, location: str, depth: int, seen: int = 0) -> int:
    """Each picture in an HTML document's ``data:`` URLs, read like an attachment at
    ``<location>/imageN.<type>`` (N from ``seen`` + 1); returns the new count."""
    for subtype, data in inline_images(markup):
        seen += 1
        name = f"image{seen}.{subtype.partition('+')[0]}"
        ctx.count_bytes(len(data))
        ctx.read_blob(ctx, Blob(data, name, f"image/{subtype}", f"{location}/{name}", depth))
    return seen


def read_rtf(ctx: Context, blob: Blob) -> None:
    """An RTF document, as text (striprtf handles \\'xx escapes and \\u code points)."""
    text = decode_text(blob.data)
    try:
        ctx.add(blob.location, rtf_to_text(text, errors="ignore"))
    except Exception:
        ctx.add(blob.location, text)


def read_xml(ctx: Context, blob: Blob) -> None:
    """Text nodes and attribute values of an XML document; no entity expansion."""
    try:
        ctx.add(blob.location, xml_to_text(blob.data, GENERIC))
    except Exception:
        ctx.add(blob.location, decode_text(blob.data))


def _json_strings(value: object) -> Iterator[str]:
    """Keys and scalar values of a JSON document, iteratively."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in reversed(item.items()):
                stack.append(sub)
                stack.append(key)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif item is not None:
            yield str(item)


def read_json(ctx: Context, blob: Blob) -> None:
    """Keys and values of a JSON document, one per line (escapes decoded)."""
    text = decode_text(blob.data)
    try:
        ctx.add(blob.location, "\n".join(_json_strings(json.loads(text))))
    except (ValueError, RecursionError):
        ctx.add(blob.location, text)
