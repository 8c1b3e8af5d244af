"""PDF -> one segment: page text, form field values, annotation contents, metadata.

Pages are separated by ``\\n\\f\\n``. The time budget is checked between pages so a
PDF with thousands of pages or pathological content streams cannot hold a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from io import BytesIO

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject

from gateway.extract.context import CORRUPT, ENCRYPTED, OVER_SIZE, Blob, Context, OverBudget

PAGE_BREAK = "\n\f\n"
#: metadata written by software, not by people
_NOISE = frozenset(("/CreationDate", "/ModDate", "/Trapped", "/Producer"))
_log = logging.getLogger(__name__)


def _quiet_pypdf() -> None:
    """Silence pypdf's own warnings: they quote bytes of the file, i.e. message content."""
    pypdf_log = logging.getLogger("pypdf")
    pypdf_log.setLevel(logging.CRITICAL + 1)
    pypdf_log.propagate = False


def _open(ctx: Context, blob: Blob) -> PdfReader | None:
    """A reader for ``blob``, or None after recording that it is encrypted or corrupt."""
    _quiet_pypdf()
    try:
        reader = PdfReader(BytesIO(blob.data), strict=False)
        encrypted = reader.is_encrypted
    except Exception:
        ctx.fail(blob.location, CORRUPT)
        return None
    if encrypted:
        try:
            opened = bool(reader.decrypt(""))
        except Exception:  # e.g. AES without the crypto dependency: still just encrypted
            opened = False
        if not opened:
            ctx.fail(blob.location, ENCRYPTED)
            return None
    return reader


def _pages(ctx: Context, reader: PdfReader, location: str) -> Iterator[str]:
    """Text of each page, up to the page limit, checking the time budget in between."""
    pages = reader.pages
    if len(pages) > ctx.limits.max_pdf_pages:
        ctx.fail(location, OVER_SIZE)
    for index in range(min(len(pages), ctx.limits.max_pdf_pages)):
        ctx.check_time()
        try:
            yield pages[index].extract_text() or ""
        except Exception:
            ctx.fail(location, CORRUPT)


def _annotations(ctx: Context, reader: PdfReader) -> Iterator[str]:
    """``/Contents`` (and titles) of every annotation, e.g. FreeText boxes and notes."""
    for index in range(min(len(reader.pages), ctx.limits.max_pdf_pages)):
        ctx.check_time()
        annots = reader.pages[index].get("/Annots")
        annots = annots.get_object() if annots is not None else None
        if not isinstance(annots, ArrayObject):
            continue
        for ref in annots:
            annot = ref.get_object()
            if not isinstance(annot, DictionaryObject):
                continue
            # a widget's /T is a form field name, not text someone wrote
            widget = annot.get("/Subtype") == "/Widget"
            for key in ("/Contents", "/RC") if widget else ("/Contents", "/RC", "/T"):
                value = annot.get(key)
                if value is not None:
                    yield str(value)


def _fields(ctx: Context, reader: PdfReader) -> Iterator[str]:
    """Values (and names) of AcroForm fields."""
    for name, field in (reader.get_fields() or {}).items():
        value = field.get("/V")
        if value is not None and str(value).strip():
            yield f"{name}: {value}"


def _metadata(ctx: Context, reader: PdfReader) -> Iterator[str]:
    """Document information values (title, author, subject, keywords...)."""
    info: Mapping[str, object] = reader.metadata or {}
    for key, value in info.items():
        if key in _NOISE:
            continue
        text = str(value).strip()
        if text:
            yield text


def read_pdf(ctx: Context, blob: Blob) -> None:
    """All text a PDF carries, as one segment at ``blob.location``."""
    reader = _open(ctx, blob)
    if reader is None:
        return
    groups = list(_pages(ctx, reader, blob.location))
    for extra in (_fields, _annotations, _metadata):
        ctx.check_time()
        try:
            groups.append("\n".join(extra(ctx, reader)))
        except OverBudget:
            raise
        except Exception:
            _log.debug("pdf %s unreadable", extra.__name__)
    ctx.add(blob.location, PAGE_BREAK.join(g for g in groups if g.strip()))
