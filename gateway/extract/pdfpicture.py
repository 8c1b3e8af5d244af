"""A PDF page (PDFium) -> the pictures OCR reads on it: the page rendered when it
has no text layer, the pictures drawn on it as they are, and the parts of pictures
that boxes drawn over them hide.  Every function here calls PDFium: the caller holds
``pdf._PDFIUM``; the OCR itself runs after it is released.

Resolution: a page without text is rendered at ``SCAN_DPI`` (200), or at the
resolution of the scan it holds when that is higher, up to 300 dpi, and never over
``MAX_PAGE_PIXELS`` (about A4 at 300 dpi), which OCR would reduce to anyway.
A page that is a scanner's (one upright picture, nothing else) is read from the
picture's own pixels instead: rendering resamples them, which cost a postcode on a
noisy 200 dpi page in our tests.

A searchable scan (the picture, and the invisible text layer its scanner's OCR wrote
over it, render mode 3) is not read twice: a picture under invisible text is left to
that text layer.  Measured on a generated 40-line A4 page at 200 dpi
(``python -m benchmarks.pdfpages``): reading the page with its layer took 45 ms, OCR
of its picture again 1.1 s more, and found the same words (175 of 176; the other one
a misreading).
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.internal as pdfium_i  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from gateway.extract import ocr
from gateway.extract.context import OVER_SIZE, TOO_MANY
from gateway.extract.pdfpage import MAX_PICTURES, Box, Survey, upright

if TYPE_CHECKING:
    from PIL.Image import Image

SCAN_DPI = 200
MAX_SCAN_DPI = 300
#: pixels a page is rendered at for OCR: A4 at 300 dpi (OCR reduces larger ones)
MAX_PAGE_PIXELS = ocr.DOWNSCALE_PIXELS


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


def covered_crops(page: pdfium.PdfPage, found: Survey) -> list[Image]:
    """The parts of upright pictures that shapes drawn over them hide, cut from the
    pictures' own pixels (which the file still holds): what a box drawn over a scan
    meant to remove.  Parts under a page's invisible text are left to that text."""
    crops = []
    for index, parts in sorted(found.covered.items()):
        obj, box = found.images[index]
        size = _pixel_size(obj)
        if size is None or size[0] * size[1] > MAX_PAGE_PIXELS or not upright(obj):
            continue
        picture = decode(page, obj)
        if picture is None:
            continue
        width, height = box[2] - box[0], box[3] - box[1]
        for left, bottom, right, top in parts:
            if any(_inside(text, (left, bottom, right, top)) for text in found.invisible):
                continue  # a searchable scan's words: the hidden-text check reads them
            area = (
                round((left - box[0]) / width * picture.width),
                round((box[3] - top) / height * picture.height),
                round((right - box[0]) / width * picture.width),
                round((box[3] - bottom) / height * picture.height),
            )
            if area[2] - area[0] >= ocr.MIN_WIDTH and area[3] - area[1] >= ocr.MIN_HEIGHT:
                crops.append(picture.crop(area))
    return crops


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
