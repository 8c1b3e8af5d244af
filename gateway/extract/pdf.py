"""PDF -> segments: page text, form field values and annotations at the file's location,
document metadata (info dictionary, XMP) at ``<location>#metadata``, and embedded
files handed back to the dispatcher.

Page text comes from PDFium (``pypdfium2``), the engine of Chrome's viewer: it lays
glyphs out as they are drawn, so a document drawn glyph by glyph is read as words.
When the content stream draws glyphs out of reading order, the text is also rebuilt
from the glyphs' positions (lines top to bottom, glyphs left to right). pypdf, which
never interprets content streams, reads the document's objects: encryption, form
fields, annotations, metadata and attachments.

Each page is also surveyed (``pdfpage``): a page without text (a scan) is read by
OCR, as are the pictures drawn on a page with text; a page that may hide text from a
viewer (a box over it, white or invisible text, a clip) is checked for text a viewer
does not show (``redaction``), and the parts of pictures that shapes drawn over them
hide are read by OCR.  What they find is located ``<location>#page=N``: OCR text
with ``reading=OCR``, hidden text with ``hidden=REDACTION`` (the page's text keeps
it too).  PDFium runs under ``_PDFIUM``, taken per call; OCR runs outside it.

Time: the budget is checked before each page and each picture (OCR keeps its own).
PDFium calls cannot be interrupted, so a page is only handed to PDFium when its
content streams (with the forms they draw) stay under ``MAX_PAGE_CONTENT`` bytes and
``MAX_PAGE_TEXT_OPERATORS`` text operators: about a second of PDFium at worst; a
larger page is ``over size limit``.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]
from pypdf import PageObject, PdfReader
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, StreamObject

from gateway.budget import OverBudget
from gateway.extract import ocr, pdfpage, pdfpicture, redaction
from gateway.extract.context import (
    CORRUPT,
    ENCRYPTED,
    OVER_SIZE,
    OVER_TIME,
    TOO_DEEP,
    Blob,
    Context,
)
from gateway.extract.xmltext import GENERIC, xml_to_text
from gateway.segments import REDACTION

if TYPE_CHECKING:
    from PIL.Image import Image

PAGE_BREAK = "\n\f\n"
METADATA = "#metadata"
#: decompressed content (page streams and the forms they draw) PDFium may lay out per
#: page: 8 MiB of vector operators cost PDFium about 1.1 s
MAX_PAGE_CONTENT = 8 * 1024 * 1024
#: text-showing operators per page: 200,000 one-glyph ``Tj`` cost PDFium about 0.5 s
MAX_PAGE_TEXT_OPERATORS = 200_000
_SHOW_TEXT = (b"Tj", b"TJ", b"'", b'"')
#: seconds the hidden-text check may render one page for (a page needs ~1-30 ms)
CHECK_BUDGET_S = 2.0
#: glyphs per page beyond which positions are not re-read (about 0.3 s of Python)
MAX_ORDERED_GLYPHS = 100_000
#: metadata written by software, not by people
_NOISE = frozenset(("/CreationDate", "/ModDate", "/Trapped", "/Producer"))
#: PDFium is not thread-safe, not even across documents
_PDFIUM = threading.Lock()
_log = logging.getLogger(__name__)


def _quiet_pypdf() -> None:
    """Silence pypdf's own warnings: they quote bytes of the file, i.e. message content."""
    pypdf_log = logging.getLogger("pypdf")
    pypdf_log.setLevel(logging.CRITICAL + 1)
    pypdf_log.propagate = False


def _open(blob: Blob) -> tuple[PdfReader | None, bool]:
    """A pypdf reader for ``blob`` (None when pypdf cannot parse it), and whether the
    file is encrypted with a password it does not open with."""
    _quiet_pypdf()
    try:
        reader = PdfReader(BytesIO(blob.data), strict=False)
        encrypted = reader.is_encrypted
    except Exception:
        return None, False
    if encrypted:
        try:
            opened = bool(reader.decrypt(""))
        except Exception:  # e.g. AES without the crypto dependency: still just encrypted
            opened = False
        if not opened:
            return None, True
    return reader, False


def _streams(value: object) -> Iterator[bytes]:
    """Decompressed data of a content stream or array of streams (pypdf caps each)."""
    value = value.get_object() if hasattr(value, "get_object") else value
    if isinstance(value, StreamObject):
        yield value.get_data()
    elif isinstance(value, ArrayObject):
        for item in value:
            yield from _streams(item)


def _page_content(page: PageObject) -> Iterator[bytes]:
    """What PDFium would interpret for ``page``: its content streams and its forms."""
    yield from _streams(page.get("/Contents"))
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    xobjects = resources.get("/XObject") if isinstance(resources, DictionaryObject) else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    if isinstance(xobjects, DictionaryObject):
        for ref in xobjects.values():
            xobject = ref.get_object()
            if isinstance(xobject, StreamObject) and xobject.get("/Subtype") == "/Form":
                yield xobject.get_data()


def _page_fits(reader: PdfReader, index: int) -> bool:
    """Whether page ``index`` is small enough to hand to PDFium: its content bytes and
    its text-showing operators (counted at C speed, over-counting quotes in strings)
    are under their caps.  Objects pypdf cannot read do not count (PDFium is more
    lenient); a stream over pypdf's own decompression cap does."""
    size = operators = 0
    try:
        for data in _page_content(reader.pages[index]):
            size += len(data)
            operators += sum(data.count(op) for op in _SHOW_TEXT)
    except LimitReachedError:
        return False
    except Exception:
        return True
    return size <= MAX_PAGE_CONTENT and operators <= MAX_PAGE_TEXT_OPERATORS


#: a glyph: (minus its bottom, left, right, height, character); sorting reads top down
Glyph = tuple[float, float, float, float, str]


def _glyphs(textpage: pdfium.PdfTextPage, text: str) -> list[Glyph]:
    """Position and character of each drawn, non-blank glyph of a page."""
    handle = textpage.raw
    count = pdfium_c.FPDFText_CountChars(handle)
    if len(text) != count:  # characters outside the BMP: ask PDFium one by one
        text = "".join(chr(pdfium_c.FPDFText_GetUnicode(handle, i)) for i in range(count))
    rect = pdfium_c.FS_RECTF()
    ref = ctypes.byref(rect)
    box = pdfium_c.FPDFText_GetLooseCharBox
    return [
        (-rect.bottom, rect.left, rect.right, rect.top - rect.bottom, char)
        for index, char in enumerate(text)
        if not char.isspace() and box(handle, index, ref)
    ]


def reading_order(glyphs: list[Glyph]) -> str:
    """Text rebuilt from glyph positions: glyphs whose bottoms lie within half a line
    height form a line, read left to right; a gap wider than a tenth of the line
    height is a space."""
    lines: list[list[Glyph]] = []
    top = 0.0
    for glyph in sorted(glyphs):
        if not lines or glyph[0] - top > glyph[3] / 2:
            lines.append([])
            top = glyph[0]
        lines[-1].append(glyph)
    out = []
    for line in lines:
        line.sort(key=lambda g: g[1])
        chars = [line[0][4]]
        for before, glyph in itertools.pairwise(line):
            spaced = glyph[1] - before[2] > max(before[3], glyph[3]) / 10
            chars.append(" " + glyph[4] if spaced else glyph[4])
        out.append("".join(chars))
    return "\n".join(out)


def _page_text(ctx: Context, textpage: pdfium.PdfTextPage, location: str) -> str:
    """A page's text as PDFium lays it out, plus the text rebuilt from glyph positions
    when that reads the glyphs in another order (they were drawn out of order)."""
    laid_out: str = textpage.get_text_range().replace("\r\n", "\n")
    if textpage.count_chars() > MAX_ORDERED_GLYPHS:
        ctx.fail(location, OVER_SIZE)  # too many glyphs to re-read their positions
        return laid_out
    ordered = reading_order(_glyphs(textpage, textpage.get_text_range()))
    if "".join(ordered.split()) == "".join(laid_out.split()):
        return laid_out
    return f"{laid_out}\n{ordered}"


@dataclass(slots=True)
class _Look:
    """What one page holds besides its text layer (read under the PDFium lock)."""

    text: str
    #: runs of the text layer a viewer does not show (a failed redaction)
    hidden: list[str]
    survey: pdfpage.Survey
    #: pictures to OCR one by one (on a page with text, or a scanner's page), each
    #: with the fixed reason it is not read, if any (see ``pdfpicture.pictures``)
    pictures: list[tuple[object | None, str]]
    #: the page rendered for OCR (no text layer, and not a scanner's one picture)
    scan: Image | None = None
    #: parts of pictures that shapes drawn over them hide (``pdfpicture.covered_crops``)
    covered: list[Image] | None = None


def _look(ctx: Context, page: pdfium.PdfPage, location: str, where: str) -> _Look:
    """Text, hidden runs and what to OCR of ``page``; the caller holds ``_PDFIUM``.
    A rendering that runs out of time makes the page ``over time budget``."""
    textpage = page.get_textpage()
    try:
        text = _page_text(ctx, textpage, location)
        found = pdfpage.survey(page)
        hidden: list[str] | None = []
        # past MAX_ORDERED_GLYPHS the page is already "over size limit"
        if found.suspicious and text.strip() and textpage.count_chars() <= MAX_ORDERED_GLYPHS:
            until = min(ctx.deadline, time.monotonic() + CHECK_BUDGET_S)
            hidden = redaction.hidden_text(page, textpage, until)
            marked = redaction.marked_text(textpage, found.marked) if found.marked else []
            hidden = None if hidden is None else hidden + [r for r in marked if r not in hidden]
    finally:
        textpage.close()
    if hidden is None:  # not rendered in time: the page may hide anything
        ctx.check_time()
        ctx.fail(where, OVER_TIME)
    look = _Look(text, hidden or [], found, [])
    if text.strip() or pdfpicture.scanner_page(page, found):
        look.pictures = list(pdfpicture.pictures(found, ctx.limits.max_image_pixels))
    elif found.drawn:
        look.scan = _scan(ctx, page, found, where)
    if found.covered and ctx.limits.ocr:
        look.covered = pdfpicture.covered_crops(page, found)
    return look


def _scan(ctx: Context, page: pdfium.PdfPage, found: pdfpage.Survey, where: str) -> Image | None:
    """A page without text rendered for OCR (under ``_PDFIUM``); None, and the page
    unreadable, with OCR off or when it does not render within OCR's budget."""
    if not ctx.limits.ocr:
        ctx.fail(where, ocr.OCR_OFF)
        return None
    until = min(ctx.deadline, time.monotonic() + ctx.limits.ocr_budget_s)
    scan = pdfpicture.scan_picture(page, found, until)
    if scan is None:
        ctx.check_time()
        ctx.fail(where, OVER_TIME)
    return scan


def _read_pictures(ctx: Context, page: pdfium.PdfPage, look: _Look, where: str) -> None:
    """OCR of the rendered page, or of the pictures drawn on it, at ``where``."""
    if look.scan is not None:
        ocr.read_picture(ctx, look.scan, where)
    for crop in look.covered or ():
        # what OCR reads under a box drawn over a picture was meant to be hidden
        ocr.read_picture(ctx, crop, where, hidden=REDACTION)
    for obj, problem in look.pictures:
        if problem:
            ctx.fail(where, problem)
            continue
        if not ctx.limits.ocr:
            ctx.fail(where, ocr.OCR_OFF)
            return
        ctx.check_time()
        with _PDFIUM:
            picture = pdfpicture.decode(page, obj)
        if picture is not None:
            ocr.read_picture(ctx, picture, where)


def _read_page(ctx: Context, document: pdfium.PdfDocument, index: int, location: str) -> str:
    """Page ``index``'s text; its hidden runs and OCR text go to ``ctx`` at
    ``location#page=N``.  PDFium is called under ``_PDFIUM``, OCR outside it."""
    where = f"{location}#page={index + 1}"
    with _PDFIUM:
        page = document[index]
    try:
        with _PDFIUM:
            look = _look(ctx, page, location, where)
        for run in look.hidden:
            ctx.add(where, run, hidden=REDACTION)
        _read_pictures(ctx, page, look, where)
        return look.text
    finally:
        with _PDFIUM:
            page.close()


def _page_texts(ctx: Context, blob: Blob, reader: PdfReader | None) -> list[str] | None:
    """Every page's text through PDFium, up to the page limit, checking the time
    budget before each; None when PDFium cannot open the file."""
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(blob.data)
        except pdfium.PdfiumError:
            return None
    texts = []
    try:
        count = len(document)
        if count > ctx.limits.max_pdf_pages:
            ctx.fail(blob.location, OVER_SIZE)
        for index in range(min(count, ctx.limits.max_pdf_pages)):
            ctx.check_time()
            if reader is not None and not _page_fits(reader, index):
                ctx.fail(blob.location, OVER_SIZE)
                continue
            try:
                texts.append(_read_page(ctx, document, index, blob.location))
            except pdfium.PdfiumError:
                ctx.fail(blob.location, CORRUPT)
        return texts
    finally:
        with _PDFIUM:
            document.close()


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
    """Document information values (title, author, subject, keywords...) and XMP text."""
    info: Mapping[str, object] = reader.metadata or {}
    for key, value in info.items():
        if key in _NOISE:
            continue
        text = str(value).strip()
        if text:
            yield text
    root = reader.trailer["/Root"].get_object()
    xmp = root.get("/Metadata") if isinstance(root, DictionaryObject) else None
    xmp = xmp.get_object() if xmp is not None else None
    if isinstance(xmp, StreamObject):
        yield xml_to_text(xmp.get_data(), GENERIC)


def _extras(ctx: Context, reader: PdfReader, parts: tuple[object, ...]) -> str:
    """Text of the pypdf readers in ``parts``; one that fails is skipped, not fatal."""
    texts = []
    for extra in parts:
        ctx.check_time()
        try:
            texts.append("\n".join(extra(ctx, reader)))  # type: ignore[operator]
        except OverBudget:
            raise
        except Exception:
            _log.debug("pdf %s unreadable", getattr(extra, "__name__", "part"))
    return "\n".join(t for t in texts if t.strip())


def _embedded(ctx: Context, reader: PdfReader, blob: Blob) -> None:
    """Files embedded in the PDF (its EmbeddedFiles), read through the dispatcher."""
    try:
        attachments = reader.attachments
        files = [(name, data) for name in attachments for data in attachments[name]]
    except OverBudget:
        raise
    except Exception:
        ctx.fail(blob.location, CORRUPT)
        return
    for name, data in files:
        clean = name.replace("/", "_").strip() or "embedded.bin"
        location = f"{blob.location}/{clean}"
        if blob.depth + 1 > ctx.limits.max_depth:
            ctx.fail(location, TOO_DEEP)
        elif len(data) > ctx.limits.max_part_bytes:
            ctx.fail(location, OVER_SIZE)
        else:
            ctx.count_bytes(len(data))
            ctx.read_blob(
                ctx, Blob(data, clean, "application/octet-stream", location, blob.depth + 1)
            )


def read_pdf(ctx: Context, blob: Blob) -> None:
    """All text a PDF carries: pages, fields and annotations at ``blob.location``,
    metadata at ``blob.location#metadata``, embedded files below ``blob.location``."""
    reader, encrypted = _open(blob)
    if encrypted:
        ctx.fail(blob.location, ENCRYPTED)
        return
    pages = _page_texts(ctx, blob, reader)
    if pages is None:
        ctx.fail(blob.location, CORRUPT)
        return
    if reader is not None:  # PDFium reads some files pypdf cannot: then pages are all
        pages.append(_extras(ctx, reader, (_fields, _annotations)))
    ctx.add(blob.location, PAGE_BREAK.join(p for p in pages if p.strip()))
    if reader is not None:
        ctx.add(blob.location + METADATA, _extras(ctx, reader, (_metadata,)))
        _embedded(ctx, reader, blob)
