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
A page that is a scanner's (one upright picture, nothing else) is read from the
picture's own pixels instead: rendering resamples them, which cost a postcode on a
noisy 200 dpi page in our tests.

A searchable scan (the picture, and the invisible text layer its scanner's OCR wrote
over it, render mode 3) is not read twice: a picture under invisible text is left to
that text layer.  Measured on a generated 40-line A4 page at 200 dpi: reading the
page with its layer took 47 ms, OCR of its picture again 1.1 s more, and found the
same words (175 of 176; the other one a misreading).
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.internal as pdfium_i  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from gateway.extract import ocr
from gateway.extract.context import OVER_SIZE, TOO_MANY

if TYPE_CHECKING:
    from PIL.Image import Image

SCAN_DPI = 200
MAX_SCAN_DPI = 300
#: pixels a page is rendered at for OCR: A4 at 300 dpi (OCR reduces larger ones)
MAX_PAGE_PIXELS = ocr.DOWNSCALE_PIXELS
MAX_FORM_DEPTH = 4
#: objects walked per page; past it the page is checked for hidden text regardless
MAX_OBJECTS = 20_000
#: pictures OCR'd per page; past it the page is unreadable, "too many entries"
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
    #: union box of the filled shapes drawn so far, by colour bucket (``_shade``)
    fills: dict[tuple[int, int, int], Box] = field(default_factory=dict)
    #: union box of the text drawn so far (while walking)
    text_box: Box | None = None


class _Out:
    """ctypes out-parameters made once and reused: making them costs more than the
    PDFium call.  Only used under ``pdf._PDFIUM``, so never by two threads at once."""

    def __init__(self) -> None:
        self.floats = [ctypes.c_float() for _ in range(4)]
        self.float_refs = [ctypes.byref(v) for v in self.floats]
        self.uints = [ctypes.c_uint() for _ in range(4)]
        self.uint_refs = [ctypes.byref(v) for v in self.uints]
        self.ints = [ctypes.c_int() for _ in range(2)]
        self.int_refs = [ctypes.byref(v) for v in self.ints]


_OUT = _Out()


def _bounds(obj: object) -> Box | None:
    if not pdfium_c.FPDFPageObj_GetBounds(obj, *_OUT.float_refs):
        return None
    left, bottom, right, top = (v.value for v in _OUT.floats)
    return (left, bottom, right, top)


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


def _fill(obj: object) -> tuple[int, int, int] | None:
    """``obj``'s fill colour (None: none, or fully transparent)."""
    if not pdfium_c.FPDFPageObj_GetFillColor(obj, *_OUT.uint_refs):
        return None
    red, green, blue, alpha = (v.value for v in _OUT.uints)
    return None if alpha == 0 else (red, green, blue)


def _shade(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """A coarse bucket of ``colour``: text and a box in one bucket look alike."""
    return (colour[0] >> 5, colour[1] >> 5, colour[2] >> 5)


def _clipped(obj: object, box: Box | None) -> bool:
    """Whether ``obj``'s clip path leaves part of ``box`` out (every path of a clip
    must hold it; the box of a path's points is a generous stand-in for the path)."""
    clip = pdfium_c.FPDFPageObj_GetClipPath(obj)
    if not clip or box is None:
        return False
    x, y = _OUT.floats[:2]
    x_ref, y_ref = _OUT.float_refs[:2]
    for path in range(pdfium_c.FPDFClipPath_CountPaths(clip)):
        points = []
        for index in range(
            min(_CLIP_SEGMENTS, pdfium_c.FPDFClipPath_CountPathSegments(clip, path))
        ):
            segment = pdfium_c.FPDFClipPath_GetPathSegment(clip, path, index)
            if segment and pdfium_c.FPDFPathSegment_GetPoint(segment, x_ref, y_ref):
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
    colour = _fill(obj)
    if mode not in _PAINTED:
        survey.suspicious = True
        if box is not None:
            survey.invisible.append(box)
    elif colour is None or min(colour) >= _WHITE or _clipped(obj, box):
        survey.suspicious = True
    elif _overlap(box, survey.fills.get(_shade(colour))):
        survey.suspicious = True  # on a shape of its own colour drawn before it
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
        filled = kind == _PATH and _filled(obj)
        if (filled or kind in (_IMAGE, _SHADING, _FORM)) and _overlap(box, survey.text_box):
            survey.suspicious = True  # drawn over text already on the page
        if kind == _IMAGE:
            if box is not None:
                survey.images.append((obj, box))
            survey.upright = survey.upright and form is None and _upright(obj)
        elif kind == _FORM and depth < MAX_FORM_DEPTH:
            _walk(page, obj, box, depth + 1, survey, crop, budget)
        else:
            survey.vector = True
        colour = _fill(obj) if filled and box is not None else None
        if colour is not None and box is not None:
            key = _shade(colour)
            survey.fills[key] = _union(survey.fills.get(key), box)


def _upright(obj: object) -> bool:
    """Whether image ``obj`` is drawn unturned and unmirrored (scaled and moved only)."""
    matrix = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(matrix)):
        return False
    return bool(matrix.b == 0 and matrix.c == 0 and matrix.a > 0 and matrix.d > 0)


def _filled(path: object) -> bool:
    pdfium_c.FPDFPath_GetDrawMode(path, *_OUT.int_refs)
    return bool(_OUT.ints[0].value != pdfium_c.FPDF_FILLMODE_NONE)


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
    """Whether ``page`` is a scanner's page: one upright picture and nothing else, on
    an unturned page, of at most ``MAX_PAGE_PIXELS`` (a larger one is rendered down
    to that), so that OCR reads the scanned pixels themselves.  Rendering resamples
    them: measured on a page with light salt-and-pepper noise at 200 dpi, the
    rendered page lost the postcode that the picture's own pixels gave."""
    if len(found.images) != 1 or not found.upright or found.vector or page.get_rotation():
        return False  # several: bands, or a mask over a background: render them
    size = _pixel_size(found.images[0][0])
    return size is not None and size[0] * size[1] <= MAX_PAGE_PIXELS


def scan_picture(page: pdfium.PdfPage, found: Survey, until: float) -> Image | None:
    """``page`` rendered for OCR, as greyscale: at the resolution of the largest scan
    on it (200-300 dpi), capped at ``MAX_PAGE_PIXELS``; None when ``until`` (a
    ``time.monotonic()``) passed first."""
    from PIL import Image as PILImage  # noqa: PLC0415  (only scans pay for Pillow)

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
    grey = render(page, scale, until)
    return None if grey is None else PILImage.fromarray(grey, "L")


def render(page: pdfium.PdfPage, scale: float, until: float) -> np.ndarray | None:
    """``page`` as a viewer shows it (annotations included), greyscale on white, at
    ``scale`` x 72 dpi; None when ``until`` (a ``time.monotonic()``) passed first.

    PDFium renders progressively and asks between objects whether to pause: a page
    of a hundred thousand large filled shapes, minutes of rasterising, stops at the
    budget instead of holding the worker."""
    width = max(1, math.ceil(page.get_width() * scale))
    height = max(1, math.ceil(page.get_height() * scale))
    bitmap = pdfium.PdfBitmap.new_native(width, height, pdfium_c.FPDFBitmap_Gray)
    try:
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
        pause = pdfium_c.IFSDK_PAUSE(version=1)
        pdfium_i.set_callback(pause, "NeedToPauseNow", lambda _: time.monotonic() > until)
        flags = pdfium_c.FPDF_GRAYSCALE | pdfium_c.FPDF_ANNOT
        status = pdfium_c.FPDF_RenderPageBitmap_Start(
            bitmap.raw, page.raw, 0, 0, width, height, 0, flags, pause
        )
        while status == pdfium_c.FPDF_RENDER_TOBECONTINUED and time.monotonic() <= until:
            status = pdfium_c.FPDF_RenderPage_Continue(page.raw, pause)
        pdfium_c.FPDF_RenderPage_Close(page.raw)
        if status != pdfium_c.FPDF_RENDER_DONE:
            return None
        return np.array(bitmap.to_numpy(), copy=True).reshape(height, -1)[:, :width]
    finally:
        bitmap.close()


def _pixel_size(obj: object) -> tuple[int, int] | None:
    width, height = ctypes.c_uint(), ctypes.c_uint()
    if not pdfium_c.FPDFImageObj_GetImagePixelSize(obj, ctypes.byref(width), ctypes.byref(height)):
        return None
    return width.value, height.value


def pictures(found: Survey, max_pixels: int) -> Iterator[tuple[object | None, str]]:
    """Image objects of a page with text worth OCR: not too small to hold a line of
    text, not under the page's invisible text (a searchable scan's own OCR layer).
    Yields each object and ``""``, or a fixed reason it must not be decoded
    (``OVER_SIZE``; ``TOO_MANY`` once, past ``MAX_PICTURES``, with no object)."""
    count = 0
    for obj, box in found.images:
        size = _pixel_size(obj)
        if size is None:
            continue
        width, height = size
        if width < ocr.MIN_WIDTH or height < ocr.MIN_HEIGHT:
            continue
        if any(_inside(text, box) for text in found.invisible):
            continue
        count += 1
        if count > MAX_PICTURES:
            yield None, TOO_MANY
            return
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
