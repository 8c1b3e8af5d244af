"""PDFs and DOCX files as offices make them, for the OCR and failed-redaction tests.

``report(lines, hide=Hide(...))`` draws a page of text with reportlab and hides one line
the way a failed redaction does (a box drawn over it, the page's colour, a clip, the
crop box, invisible text); ``scanned_pdf(images)`` is an image-only PDF as a scanner
writes it; ``searchable_scan(lines)`` is the same page with the invisible text layer a
scanner's OCR adds; ``docx(runs)`` is a Word file whose runs carry the colours and
shading Word users redact with.  Deterministic: the same arguments give the same bytes.

    from tests.pdfgen import Hide, report
    pdf = report(["Dear Ms Field,", "14 Elm Road, LS6 2QB"], Hide(line=1, how="box"))
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

import docx as python_docx
import pypdfium2 as pdfium  # type: ignore[import-untyped]
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import RGBColor
from hypothesis import strategies as st
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from tests.imagegen import Scan, render

#: reportlab's built-in fonts (no file needed)
FONTS = ("Helvetica", "Times-Roman", "Courier", "Helvetica-Bold")
#: the ways a line is hidden and still in the file
HOWS = ("box", "white", "clip", "crop", "invisible", "under")
LEFT = 72.0
TOP = A4[1] - 90.0


@dataclass(frozen=True, slots=True)
class Hide:
    """Which line of a page is hidden, and how."""

    #: index of the hidden line
    line: int = 1
    #: ``box``: a filled rectangle over it; ``white``: drawn in the page's colour;
    #: ``clip``: clipped away; ``crop``: outside the crop box; ``invisible``: text
    #: render mode 3 with nothing under it; ``under``: a box drawn first and the text
    #: in the box's colour on it; ``beside``: a box drawn after the line,
    #: next to it, covering nothing (the benign twin)
    how: str = "box"
    #: the box's colour (grey level 0-1: 0 is the classic black box)
    grey: float = 0.0
    #: points the box reaches past the text on every side
    pad: float = 2.0


@dataclass(frozen=True, slots=True)
class Page:
    """How the lines of a page are drawn."""

    font: str = "Helvetica"
    size: float = 11.0
    leading: float = 1.5
    #: a filled box somewhere that covers no text (a logo panel, a table header)
    decoration: bool = False
    #: grey level of a shaded panel drawn behind all the lines first (-1: none)
    panel: float = -1.0


def _line_box(
    canvas: Canvas, text: str, page: Page, y: float, pad: float
) -> tuple[float, float, float, float]:
    """x, y, width, height of a rectangle around ``text`` drawn at baseline ``y``."""
    width = canvas.stringWidth(text, page.font, page.size)
    return (LEFT - pad, y - 0.25 * page.size - pad, width + 2 * pad, 1.05 * page.size + 2 * pad)


def _draw_page(
    canvas: Canvas, lines: Sequence[str], hide: Hide | None, page: Page, *, ocr: bool = False
) -> None:
    """One page of ``lines``; the line ``hide`` names is drawn and then hidden;
    ``ocr``: every line in invisible text (a scan's OCR layer)."""
    if page.panel >= 0:
        canvas.setFillGray(page.panel)
        canvas.rect(
            LEFT - 10, TOP - len(lines) * page.size * page.leading, 400, 200, stroke=0, fill=1
        )
        canvas.setFillGray(0)
    if page.decoration:
        canvas.setFillGray(0.2)
        canvas.rect(LEFT, 60, 200, 40, stroke=0, fill=1)  # below every line of text
    for index, text in enumerate(lines):
        y = TOP - index * page.size * page.leading
        hidden = hide is not None and index == hide.line
        how = hide.how if hide is not None and hidden else ""
        if how == "under" and hide is not None:  # a box first, then text of its colour
            canvas.setFillGray(hide.grey)
            canvas.rect(*_line_box(canvas, text, page, y, hide.pad), stroke=0, fill=1)
            canvas.setFillGray(0)
        canvas.saveState()
        if how == "clip":
            path = canvas.beginPath()
            path.rect(0, y + 2 * page.size, 10, 10)  # a clip that holds none of the line
            canvas.clipPath(path, stroke=0, fill=0)
        text_object = canvas.beginText(LEFT, y)
        text_object.setFont(page.font, page.size)
        if how == "white":
            text_object.setFillGray(1.0)
        if how == "under" and hide is not None:
            text_object.setFillGray(hide.grey)
        if how == "invisible" or ocr:
            text_object.setTextRenderMode(3)
        if how == "crop":
            text_object.setTextOrigin(A4[0] + 50, y)  # off the page, right of it
        text_object.textOut(text)
        canvas.drawText(text_object)
        canvas.restoreState()
        if how in ("box", "beside") and hide is not None:
            x, bottom, width, height = _line_box(canvas, text, page, y, hide.pad)
            if how == "beside":
                x += width + 2 * hide.pad
            canvas.setFillGray(hide.grey)
            canvas.rect(x, bottom, width, height, stroke=0, fill=1)
            canvas.setFillGray(0)


def report(
    lines: Sequence[str],
    hide: Hide | None = None,
    page: Page | None = None,
    *,
    pages: int = 1,
    hidden_page: int = 1,
) -> bytes:
    """A PDF of ``pages`` pages of ``lines``; on page ``hidden_page`` (from 1) the line
    ``hide`` names is hidden the way it says."""
    out = BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1)
    for number in range(1, pages + 1):
        _draw_page(canvas, lines, hide if number == hidden_page else None, page or Page())
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def scanned_pdf(images: Sequence[Image.Image], dpi: int = 200) -> bytes:
    """An image-only PDF, one page per image, as a scanner writes it (Pillow)."""
    out = BytesIO()
    first, *rest = (image.convert("L") for image in images)
    first.save(out, "PDF", save_all=True, append_images=rest, resolution=float(dpi))
    return out.getvalue()


def dense_scan(count: int) -> bytes:
    """``count`` distinct A4 pages at 200 dpi, each full of text (no cache hits): a
    long scanned report, as in the issue's budget test."""
    lines = [
        f"Line {n} of the assessment, reference {n * 7919 % 100000:05d} Kingfisher"
        for n in range(40)
    ]
    return scanned_pdf(
        [
            render([f"Page {p}", *lines[p % 3 :]], Scan(page=True, pt=11, seed=p))
            for p in range(count)
        ]
    )


def text_with_picture(lines: Sequence[str], picture: Image.Image, dpi: int = 200) -> bytes:
    """A page of text with ``picture`` (a pasted scan) drawn below it at ``dpi``."""
    return text_with_pictures(lines, [picture], dpi)


def text_with_pictures(
    lines: Sequence[str], pictures: Sequence[Image.Image], dpi: int = 200
) -> bytes:
    """A page of text with ``pictures`` drawn below it at ``dpi``, stacked upwards
    from the bottom margin (overlapping when they do not fit)."""
    out = BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1)
    _draw_page(canvas, lines, None, Page())
    y = 100.0
    for picture in pictures:
        width, height = picture.width * 72 / dpi, picture.height * 72 / dpi
        buffer = BytesIO()
        picture.save(buffer, "PNG")
        buffer.seek(0)
        canvas.drawImage(ImageReader(buffer), LEFT, y, width, height)
        y = min(y + height + 4, TOP - 200)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def searchable_scan(lines: Sequence[str], dpi: int = 200, page: Page | None = None) -> bytes:
    """A scanned page with its OCR text layer (what a scanner's "searchable PDF" or
    ocrmypdf writes): the page's picture, and the same lines in invisible text over
    the very places the picture shows them."""
    document = pdfium.PdfDocument(report(lines, page=page))
    picture = document[0].render(scale=dpi / 72).to_pil().convert("L")
    document.close()
    out = BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1)
    buffer = BytesIO()
    picture.save(buffer, "PNG")
    buffer.seek(0)
    canvas.drawImage(ImageReader(buffer), 0, 0, A4[0], A4[1])
    _draw_page(canvas, lines, None, page or Page(), ocr=True)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def hides() -> st.SearchStrategy[Hide]:
    """Failed redactions of one line: any way, any box colour from black to mid grey,
    a box from flush to generous."""
    return st.builds(
        Hide,
        line=st.integers(0, 3),
        how=st.sampled_from(HOWS),
        grey=st.sampled_from((0.0, 0.1, 0.3, 0.5, 1.0)),
        pad=st.floats(0.5, 6.0),
    )


def pages() -> st.SearchStrategy[Page]:
    """Pages of text as reports are set: any built-in font, 8-16 points."""
    return st.builds(
        Page,
        font=st.sampled_from(FONTS),
        size=st.floats(8.0, 16.0),
        leading=st.sampled_from((1.2, 1.5, 2.0)),
        decoration=st.booleans(),
    )


# --- DOCX ---------------------------------------------------------------------------

#: run formats Word users redact with (and fail): name -> what it sets on the run
DOCX_HIDES = ("highlight", "shading", "white", "vanish")


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a paragraph: its text and how it is formatted."""

    text: str
    #: ``""`` (plain), ``highlight`` (black highlight, black text), ``shading`` (dark
    #: shading, text in the same colour), ``white`` (white text on the white page),
    #: ``vanish`` (Word's hidden text), ``style`` (a character style that does the
    #: black highlight); ``readable``: a dark highlight with white
    #: text or Word's automatic colour, which Word shows (the benign twin)
    how: str = ""
    #: the dark colour of shading and text, as hex
    colour: str = "000000"
    #: the text's colour when it is not ``colour`` (shading only)
    ink: str = ""
    #: the highlight (``WD_COLOR_INDEX`` name) of ``highlight``
    mark: str = "BLACK"


def _shade(run: object, fill: str) -> None:
    """Character shading ``fill`` on a python-docx run."""
    properties = run._r.get_or_add_rPr()  # type: ignore[attr-defined]
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    properties.append(shading)


def _redacted_style(document: object) -> object:
    """A character style "Redacted" (black highlight, black text), made once."""
    styles = document.styles  # type: ignore[attr-defined]
    if "Redacted" not in [style.name for style in styles]:
        style = styles.add_style("Redacted", WD_STYLE_TYPE.CHARACTER)
        style.font.highlight_color = WD_COLOR_INDEX.BLACK
        style.font.color.rgb = RGBColor.from_string("000000")
    return styles["Redacted"]


def docx(paragraphs: Sequence[Sequence[Run]]) -> bytes:
    """A Word document of ``paragraphs``, each a sequence of runs."""
    document = python_docx.Document()
    for runs in paragraphs:
        paragraph = document.add_paragraph()
        for spec in runs:
            run = paragraph.add_run(spec.text)
            if spec.how == "highlight":
                run.font.highlight_color = WD_COLOR_INDEX[spec.mark]
                run.font.color.rgb = RGBColor.from_string(spec.colour)
            elif spec.how == "shading":
                _shade(run, spec.colour)
                run.font.color.rgb = RGBColor.from_string(spec.ink or spec.colour)
            elif spec.how == "white":
                run.font.color.rgb = RGBColor.from_string("FFFFFF")
            elif spec.how == "vanish":
                run.font.hidden = True
            elif spec.how == "style":
                run.style = _redacted_style(document)
            elif spec.how == "readable":
                run.font.highlight_color = WD_COLOR_INDEX.BLACK
                if spec.colour != "auto":
                    run.font.color.rgb = RGBColor.from_string("FFFFFF")
    out = BytesIO()
    document.save(out)
    return out.getvalue()


def docx_table(cells: Sequence[tuple[str, str, str]]) -> bytes:
    """A Word document with a one-row table: each cell's text, its shading (hex, or
    ``""`` for none) and its text colour (hex, or ``""`` for automatic)."""
    document = python_docx.Document()
    table = document.add_table(rows=1, cols=len(cells))
    for cell, (text, fill, ink) in zip(table.rows[0].cells, cells, strict=True):
        run = cell.paragraphs[0].add_run(text)
        if ink:
            run.font.color.rgb = RGBColor.from_string(ink)
        if fill:
            shading = OxmlElement("w:shd")
            shading.set(qn("w:val"), "clear")
            shading.set(qn("w:color"), "auto")
            shading.set(qn("w:fill"), fill)
            cell._tc.get_or_add_tcPr().append(shading)
    out = BytesIO()
    document.save(out)
    return out.getvalue()


def tesseract_pdf(image: Image.Image, dpi: int = 200) -> bytes:
    """A searchable PDF of ``image`` made by Tesseract's own PDF renderer (what
    ocrmypdf and many scanners' software write): the picture, and over it each word
    Tesseract read in invisible text stretched to the word's box."""
    import tesserocr  # type: ignore[import-untyped]

    from gateway.extract.ocr import tessdata

    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "page.png")
        image.save(source, dpi=(dpi, dpi))
        with tesserocr.PyTessBaseAPI(path=tessdata(), lang="eng") as api:
            api.SetVariable("tessedit_create_pdf", "true")
            api.ProcessPages(os.path.join(folder, "out"), source)
        with open(os.path.join(folder, "out.pdf"), "rb") as made:
            return made.read()


def boxed(pdf: bytes, box: tuple[float, float, float, float], grey: float = 0.0) -> bytes:
    """``pdf`` with a filled box (x, y, width, height in points) drawn over every
    page, as a redaction tool that only draws does."""
    from pypdf import PdfReader, PdfWriter

    cover = BytesIO()
    canvas = Canvas(cover, pagesize=A4, invariant=1)
    canvas.setFillGray(grey)
    canvas.rect(*box, stroke=0, fill=1)
    canvas.showPage()
    canvas.save()
    overlay = PdfReader(cover).pages[0]
    writer = PdfWriter()
    for page in PdfReader(BytesIO(pdf)).pages:
        page.merge_page(overlay)
        writer.add_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def marked(pdf: bytes, box: tuple[float, float, float, float]) -> bytes:
    """``pdf`` with a redaction annotation (Acrobat's "mark for redaction", never
    applied) over ``box`` (x, y, width, height in points) on its first page."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DictionaryObject,
        FloatObject,
        NameObject,
    )

    writer = PdfWriter()
    writer.append(PdfReader(BytesIO(pdf)))
    x, y, width, height = box
    corners = [x, y + height, x + width, y + height, x, y, x + width, y]
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Redact"),
            NameObject("/Rect"): ArrayObject(FloatObject(v) for v in (x, y, x + width, y + height)),
            NameObject("/QuadPoints"): ArrayObject(FloatObject(v) for v in corners),
        }
    )
    writer.add_annotation(0, annotation)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
