"""A PDF page (PDFium) -> what else to read on it besides its text layer: the page
itself as a picture when it has no text (a scan), the pictures drawn on a page that
has text (a pasted scan, a photographed letter), and whether the page is worth
checking for text a viewer would not show (``gateway.extract.redaction``).

One walk over the page's objects (into forms, ``MAX_FORM_DEPTH`` deep) answers all of
that at the cost of a few PDFium calls per object.  Every function here calls PDFium:
the caller holds ``pdf._PDFIUM``; the OCR itself runs after it is released.

Resolution: a page without text is rendered at ``SCAN_DPI`` (200), or at the
resolution of the scan it holds when that is higher, up to 300 dpi, and never over
``MAX_PAGE_PIXELS`` (about A4 at 300 dpi), which OCR would reduce to anyway.
A searchable scan (the picture, and the invisible text layer its scanner's OCR wrote
over it, render mode 3) is not read twice: a picture under invisible text is left to
that text layer.  Measured on a generated A4 letter at 200 dpi, reading the picture
again costs about 0.7 s of OCR per page and finds nothing the layer does not hold.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from gateway.extract import ocr
from gateway.extract.context import OVER_SIZE

if TYPE_CHECKING:
    from PIL.Image import Image

SCAN_DPI = 200
MAX_SCAN_DPI = 300
#: pixels a page is rendered at for OCR: A4 at 300 dpi (OCR reduces larger ones)
MAX_PAGE_PIXELS = ocr.DOWNSCALE_PIXELS
MAX_FORM_DEPTH = 4
#: objects walked per page; past it the page is checked for hidden text regardless
MAX_OBJECTS = 20_000
#: pictures OCR'd per page (a page tiled from hundreds of images is a map, not a letter)
MAX_PICTURES = 20
#: points of a clip path looked at (a clip is a rectangle or a few curves)
_CLIP_SEGMENTS = 64
#: channel value over which a text's fill colour is "white" (drawn in the page's colour)
_WHITE = 235
_TEXT, _PATH, _IMAGE, _SHADING, _FORM = 1, 2, 3, 4, 5
#: text render modes that paint the glyphs (fill, stroke, both); the rest hide them
_PAINTED = frozenset((0, 1, 2))
#: annotations a viewer draws over the page that cover nothing on purpose
_HARMLESS_ANNOTS = frozenset((pdfium_c.FPDF_ANNOT_LINK, pdfium_c.FPDF_ANNOT_POPUP))

Box = tuple[float, float, float, float]  # left, bottom, right, top in page space


@dataclass(slots=True)
class Survey:
    """What one walk over a page's objects found."""

    #: a painted or drawn object of any kind (an empty page is not worth OCR)
    drawn: bool = False
    #: the page may hide text from a viewer: see ``suspicious``
    suspicious: bool = False
    #: image objects (with the box of the top-level object that draws them)
    images: list[tuple[object, Box]] = field(default_factory=list)
    #: boxes of invisible text (a scan's OCR layer, or text hidden on purpose)
    invisible: list[Box] = field(default_factory=list)
    #: vector drawing (paths, shadings): text may be drawn as outlines
    vector: bool = False
    #: every image is drawn upright at the top level (its pixels are what is shown)
    upright: bool = True
    #: union box of the text drawn so far (while walking)
    text_box: Box | None = None


def _bounds(obj: object) -> Box | None:
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetBounds(
        obj, ctypes.byref(left), ctypes.byref(bottom), ctypes.byref(right), ctypes.byref(top)
    ):
        return None
    return (left.value, bottom.value, right.value, top.value)


def _overlap(a: Box | None, b: Box | None) -> bool:
    return (
        a is not None
        and b is not None
        and a[0] < b[2]
        and b[0] < a[2]
        and a[1] < b[3]
        and b[1] < a[3]
    )


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _white_fill(obj: object) -> bool:
    rgba = [ctypes.c_uint() for _ in range(4)]
    if not pdfium_c.FPDFPageObj_GetFillColor(obj, *(ctypes.byref(v) for v in rgba)):
        return False
    red, green, blue, alpha = (v.value for v in rgba)
    return alpha == 0 or min(red, green, blue) >= _WHITE


def _clipped(obj: object, box: Box | None) -> bool:
    """Whether ``obj``'s clip path leaves part of ``box`` out (every path of a clip
    must hold it; the box of a path's points is a generous stand-in for the path)."""
    clip = pdfium_c.FPDFPageObj_GetClipPath(obj)
    if not clip or box is None:
        return False
    x, y = ctypes.c_float(), ctypes.c_float()
    for path in range(pdfium_c.FPDFClipPath_CountPaths(clip)):
        points = []
        for index in range(
            min(_CLIP_SEGMENTS, pdfium_c.FPDFClipPath_CountPathSegments(clip, path))
        ):
            segment = pdfium_c.FPDFClipPath_GetPathSegment(clip, path, index)
            if segment and pdfium_c.FPDFPathSegment_GetPoint(
                segment, ctypes.byref(x), ctypes.byref(y)
            ):
                points.append((x.value, y.value))
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        slack = 1.0
        if (
            box[0] < min(xs) - slack
            or box[2] > max(xs) + slack
            or box[1] < min(ys) - slack
            or box[3] > max(ys) + slack
        ):
            return True
    return False


def _children(page: object, form: object | None) -> Iterator[object]:
    count = (
        pdfium_c.FPDFFormObj_CountObjects(form) if form else pdfium_c.FPDFPage_CountObjects(page)
    )
    get = pdfium_c.FPDFFormObj_GetObject if form else pdfium_c.FPDFPage_GetObject
    for index in range(max(0, count)):
        obj = get(form or page, index)
        if obj:
            yield obj


def _text(survey: Survey, obj: object, box: Box | None, crop: Box) -> None:
    """A text object: hidden by its render mode, colour, clip, or place off the page?"""
    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
    if mode not in _PAINTED:
        survey.suspicious = True
        if box is not None:
            survey.invisible.append(box)
    elif _white_fill(obj) or _clipped(obj, box):
        survey.suspicious = True
    if box is not None:
        if not _overlap(box, crop):
            survey.suspicious = True
        survey.text_box = _union(survey.text_box, box)


def _walk(
    page: object,
    form: object | None,
    top: Box | None,
    depth: int,
    survey: Survey,
    crop: Box,
    budget: list[int],
) -> None:
    for obj in _children(page, form):
        budget[0] -= 1
        if budget[0] < 0:
            survey.suspicious = True
            return
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        box = top if top is not None else _bounds(obj)
        survey.drawn = True
        if kind == _TEXT:
            _text(survey, obj, box, crop)
            continue
        covers = kind in (_IMAGE, _SHADING, _FORM) or (kind == _PATH and _filled(obj))
        if covers and _overlap(box, survey.text_box):
            survey.suspicious = True  # drawn over text already on the page
        if kind == _IMAGE and box is not None:
            survey.images.append((obj, box))
            survey.upright = survey.upright and form is None and _upright(obj)
        elif kind == _FORM and depth < MAX_FORM_DEPTH:
            _walk(page, obj, box, depth + 1, survey, crop, budget)
        else:
            survey.vector = True


def _upright(obj: object) -> bool:
    """Whether image ``obj`` is drawn unturned and unmirrored (scaled and moved only)."""
    matrix = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(matrix)):
        return False
    return matrix.b == 0 and matrix.c == 0 and matrix.a > 0 and matrix.d > 0


def _filled(path: object) -> bool:
    fill_mode, stroke = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDFPath_GetDrawMode(path, ctypes.byref(fill_mode), ctypes.byref(stroke))
    return bool(fill_mode.value != pdfium_c.FPDF_FILLMODE_NONE)


def survey(page: pdfium.PdfPage) -> Survey:
    """One walk over ``page``'s objects and annotations."""
    found = Survey()
    left, bottom, right, top = page.get_cropbox()
    _walk(page.raw, None, None, 0, found, (left, bottom, right, top), [MAX_OBJECTS])
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
        if annot:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) not in _HARMLESS_ANNOTS:
                found.suspicious = True  # a shape, a highlight, a stamp over the text
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return found


def scanner_page(page: pdfium.PdfPage, found: Survey) -> bool:
    """Whether ``page`` is a scanner's page: pictures only, upright, on an unturned
    page, so that OCR reads the scanned pixels themselves.  Rendering resamples them:
    measured on a page with light salt-and-pepper noise at 200 dpi, the rendered page
    lost the postcode that the picture's own pixels gave."""
    return (
        len(found.images) == 1  # several: bands, or a mask over a background: render
        and found.upright
        and not found.vector
        and page.get_rotation() == 0
    )


def scan_picture(page: pdfium.PdfPage, found: Survey) -> Image:
    """``page`` rendered for OCR, as greyscale: at the resolution of the largest scan
    on it (200-300 dpi), capped at ``MAX_PAGE_PIXELS``."""
    width, height = page.get_size()
    dpi = float(SCAN_DPI)
    for obj, (left, _, right, _) in found.images:
        pixels = _pixel_size(obj)
        if pixels and right - left > 0:
            dpi = max(dpi, min(MAX_SCAN_DPI, pixels[0] * 72 / (right - left)))
    scale = dpi / 72
    area = width * height * scale * scale
    if area > MAX_PAGE_PIXELS:
        scale *= (MAX_PAGE_PIXELS / area) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
    try:
        picture: Image = bitmap.to_pil().convert("L")
    finally:
        bitmap.close()
    return picture


def _pixel_size(obj: object) -> tuple[int, int] | None:
    width, height = ctypes.c_uint(), ctypes.c_uint()
    if not pdfium_c.FPDFImageObj_GetImagePixelSize(obj, ctypes.byref(width), ctypes.byref(height)):
        return None
    return width.value, height.value


def pictures(found: Survey, max_pixels: int) -> Iterator[tuple[object, str]]:
    """Image objects of a page with text worth OCR: not too small to hold a line of
    text, not under the page's invisible text (a searchable scan's own OCR layer).
    Yields each object, and ``""``, or ``OVER_SIZE`` when it must not be decoded."""
    for obj, box in found.images[:MAX_PICTURES]:
        size = _pixel_size(obj)
        if size is None:
            continue
        width, height = size
        if width < ocr.MIN_WIDTH or height < ocr.MIN_HEIGHT:
            continue
        if any(_inside(text, box) for text in found.invisible):
            continue
        yield obj, OVER_SIZE if width * height > max_pixels else ""


def _inside(inner: Box, outer: Box) -> bool:
    x, y = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= x <= outer[2] and outer[1] <= y <= outer[3]


def decode(page: pdfium.PdfPage, obj: object) -> Image | None:
    """The pixels of image object ``obj`` as greyscale, None when PDFium cannot."""
    image = pdfium.PdfImage(obj, page=page, pdf=page.pdf)
    try:
        bitmap = image.get_bitmap(render=False)
    except pdfium.PdfiumError:
        return None
    # convert() copies the pixels, so PDFium's buffer is freed here, under the lock,
    # not by a finalizer on whatever thread collects it
    bitmap.warn_on_close = False
    try:
        picture: Image = bitmap.to_pil().convert("L")
    except Exception:  # a pixel format Pillow has no mode for
        return None
    finally:
        bitmap.close()
    return picture
