"""Images (PNG, JPEG, TIFF, GIF, BMP, WebP; pictures from PDFs and Office files) ->
text segments read by OCR (``reading=OCR``).

Tesseract runs in-process through ``tesserocr`` (``benchmarks/ocr.py`` compares it
with ``pytesseract``, which starts the CLI per image): one engine per thread, made on
the first image that thread reads (mail without images imports and loads nothing).
An image is checked from its header before it is decoded (pixels, frames); each frame
gets its own time budget within the message's deadline (Tesseract's timeout covers
recognition, not the layout analysis before it, a fraction of a second per page), and
what cannot be read becomes an ``Unreadable`` with a fixed reason; the message
carries on.  Pictures are prepared as a reader sees them: EXIF orientation, white
under transparency, grey, levelled when fed askew, small text enlarged.  Frames after
the first are located ``<location>#page=N`` (N from 2; the first frame keeps the plain
location, like a PDF's text layer does).  OCR text is cached per process by a digest
of the pixels, so a logo or a signature repeated in every message costs one lookup.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from io import BytesIO
from typing import TYPE_CHECKING, Any

from gateway.extract.context import CORRUPT, OVER_SIZE, OVER_TIME, Blob, Context
from gateway.segments import OCR

if TYPE_CHECKING:
    from PIL.Image import Image

#: ``tesserocr.PyTessBaseAPI`` (tesserocr ships no type information)
PyTessBaseAPI = Any

#: every image of a message read with ``Limits.ocr`` off
OCR_OFF = "not read: OCR off"
#: no Tesseract (the binding or its language data is missing)
NO_ENGINE = "OCR not available"
#: an image with more frames than ``Limits.max_image_frames``
TOO_MANY_FRAMES = "too many frames"

#: an image format no decoder here reads (HEIC/HEIF, what phones take photos in)
UNREAD_IMAGE = "image format not read"

#: the only decoders an attachment reaches: Pillow has others (EPS runs Ghostscript)
FORMATS = ("PNG", "JPEG", "TIFF", "GIF", "BMP", "WEBP", "JPEG2000", "AVIF")
#: ISO base media ``ftyp`` brands: AVIF, which Pillow decodes, and HEIF/HEIC, which it
#: does not
_AVIF_BRANDS = frozenset((b"avif", b"avis"))
_HEIF_BRANDS = frozenset((b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"))
_JPEG2000 = (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")
_TESSDATA = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
# Smallest image that can carry a legible detail.  Measured (``python -m
# benchmarks.ocr --small``): a UK postcode cropped tight, in DejaVu Sans, Liberation
# Sans and Liberation Serif, is read in every font from 7 px cap height (a 39x11 px
# crop), in some from 5 px (26x8, 30x8), and in none at 4 px (a crop 7 px tall).  So an
# image shorter than 8 px, or narrower than 20 px (five characters of the smallest
# legible size), cannot show a detail: a 1x1 tracker, a 16x16 icon, a spacer are
# skipped without starting Tesseract.
MIN_HEIGHT = 8
MIN_WIDTH = 20
# Size of text.  A line's height is measured as a run of inked rows (about the cap
# height); text whose lines are under LINE_PX is enlarged up to 4x to about that (a
# screenshot, a crop, 8 pt at 96 dpi).  Over the benchmark's letters at 150 and 200 dpi,
# 18 px read as many details as any target tried and cost least (24 and 32 px read 1-3%
# fewer and cost 10-30% more; a fixed enlargement of small images read fewer still).
# A page over DOWNSCALE_PIXELS (a 600 dpi scan) is reduced to about A4 at 300 dpi: it
# reads the same details (1.6 s against 1.9 s CPU for a dense A4 page at 600 dpi).
LINE_PX = 18.0
MAX_UPSCALE = 4.0
DOWNSCALE_PIXELS = 9_000_000
PAD = 16
# Skew: searched from -6 to 6 degrees (a sheet fed askew; past that it is a photo, which
# Tesseract's own line finding handles or nothing does), and applied only when it makes
# the profile clearly sharper than leaving the image alone.
_SKEW_SIDE = 800
_SKEW_ANGLES = tuple(a / 2 for a in range(-12, 13) if a)
_SKEW_GAIN = 1.05
CACHE_ENTRIES = 256

_log = logging.getLogger(__name__)


#: sizes of a BMP's DIB header: "BM" alone is too weak a signature (text can start so)
_BMP_HEADERS = frozenset((12, 40, 52, 56, 64, 108, 124))


def is_image(data: bytes) -> bool:
    """Whether ``data`` starts as an image OCR reads: PNG, JPEG, GIF, TIFF, BMP, WebP,
    JPEG 2000, AVIF."""
    if data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")):
        return True
    if data.startswith(_JPEG2000) or not _AVIF_BRANDS.isdisjoint(_brands(data)):
        return True
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return True
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return True
    return data.startswith(b"BM") and int.from_bytes(data[14:18], "little") in _BMP_HEADERS


def is_unread_image(data: bytes) -> bool:
    """Whether ``data`` starts as a HEIF/HEIC image (``ftyp`` brand), which no decoder
    here reads: ``UNREAD_IMAGE``, unscannable rather than passed as media."""
    brands = _brands(data)
    return _AVIF_BRANDS.isdisjoint(brands) and not _HEIF_BRANDS.isdisjoint(brands)


def _brands(data: bytes) -> frozenset[bytes]:
    """The major and compatible brands of an ISO base media file's ``ftyp`` box."""
    if data[4:8] != b"ftyp":
        return frozenset()
    end = min(int.from_bytes(data[:4], "big"), len(data))
    return frozenset((data[8:12], *(data[at : at + 4] for at in range(16, end - 3, 4))))


def tessdata() -> str | None:
    """Tesseract's data folder holding ``eng``: ``TESSDATA_PREFIX``, else Debian's."""
    candidates = [os.environ.get("TESSDATA_PREFIX", "")]
    for pattern in _TESSDATA:
        candidates += sorted(glob.glob(pattern), reverse=True)
    for folder in candidates:
        if folder and os.path.isfile(os.path.join(folder, "eng.traineddata")):
            return folder
    return None


class Engine:
    """One Tesseract per thread, started on the thread's first image; None for good
    once it cannot start (one warning, then every image is ``NO_ENGINE``)."""

    def __init__(self, find: Callable[[], str | None] = tessdata) -> None:
        self._find = find
        self._local = threading.local()
        self._broken = False

    def api(self) -> PyTessBaseAPI | None:
        api: PyTessBaseAPI | None = getattr(self._local, "api", None)
        if api is None and not self._broken:
            api = self._local.api = self._start()
        return api

    def _start(self) -> PyTessBaseAPI | None:
        # One scan, one core: OpenMP reads this when a libtesseract built with it loads
        # (Debian's is; the pinned wheel's is not, which makes this a safeguard).
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        try:
            import tesserocr  # type: ignore[import-untyped]  # noqa: PLC0415  (first image only)

            folder = self._find()
            if folder is None:
                raise RuntimeError("no tessdata")
            return tesserocr.PyTessBaseAPI(path=folder, lang="eng", psm=tesserocr.PSM.AUTO)
        except Exception:  # ImportError, RuntimeError: no engine, for good
            self._broken = True
            _log.warning("OCR not available: images are unscannable")
            return None


class TextCache:
    """OCR text by pixel digest, least recently used dropped first; shared by threads."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._texts: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: bytes) -> str | None:
        with self._lock:
            text = self._texts.get(key)
            if text is not None:
                self._texts.move_to_end(key)
                self.hits += 1
            return text

    def put(self, key: bytes, text: str) -> None:
        with self._lock:
            self._texts[key] = text
            self._texts.move_to_end(key)
            while len(self._texts) > self._entries:
                self._texts.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._texts.clear()
            self.hits = 0


engine = Engine()
cache = TextCache()


def read_image(ctx: Context, blob: Blob) -> None:
    """Every frame of an image file, read by OCR into ``ctx`` at ``blob.location``."""
    if not ctx.limits.ocr:
        ctx.fail(blob.location, OCR_OFF)
        return
    from PIL import Image  # noqa: PLC0415  (only mail with images pays for Pillow)

    # Pillow refuses images past 179 Mpx, and warns past 89 Mpx (an error where warnings
    # are errors); both are over our own limit, which ``_frames`` checks.  The warnings
    # filter is left alone: ``catch_warnings`` is not safe in scan threads.
    try:
        with Image.open(BytesIO(blob.data), formats=FORMATS) as image:
            for page, frame in enumerate(_frames(ctx, image, blob.location), 1):
                where = blob.location if page == 1 else f"{blob.location}#page={page}"
                read_picture(ctx, frame, where)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        ctx.fail(blob.location, OVER_SIZE)


def _frames(ctx: Context, image: Image, location: str) -> Iterator[Image]:
    """Each frame of ``image``, header-checked for size, decoded one at a time."""
    limits = ctx.limits
    for index in range(limits.max_image_frames + 1):
        try:
            image.seek(index)
        except EOFError:
            return
        if index == limits.max_image_frames:
            ctx.fail(location, TOO_MANY_FRAMES)
            return
        width, height = image.size
        if width * height > limits.max_image_pixels:
            ctx.fail(location if index == 0 else f"{location}#page={index + 1}", OVER_SIZE)
            continue
        ctx.check_time()
        if _too_small(image):
            continue  # not decoded at all
        try:
            image.load()
        except (OSError, ValueError, SyntaxError):
            ctx.fail(location if index == 0 else f"{location}#page={index + 1}", CORRUPT)
            continue
        yield image


def read_picture(ctx: Context, image: Image, location: str, hidden: str = "") -> None:
    """OCR of one decoded picture (an image frame, a PDF page, a picture inside a
    document) into ``ctx`` at ``location``, within the image and message budgets;
    ``hidden``: see ``Segment.hidden`` (a part of a picture a shape covers)."""
    if not ctx.limits.ocr:
        ctx.fail(location, OCR_OFF)
        return
    if image.width * image.height > ctx.limits.max_image_pixels:
        ctx.fail(location, OVER_SIZE)
        return
    if _too_small(image):
        return
    ctx.check_time()
    key = _digest(image)
    text = cache.get(key)
    if text is None:
        text = _recognise(ctx, prepare(image), location)
        if text is None:
            return
        cache.put(key, text)
    ctx.add(location, text, reading=OCR, hidden=hidden)


def _too_small(image: Image) -> bool:
    return image.height < MIN_HEIGHT or image.width < MIN_WIDTH


def _recognise(ctx: Context, gray: Image, location: str) -> str | None:
    """Tesseract's text of ``gray``, or None when it could not be read in budget."""
    api = engine.api()
    if api is None:
        ctx.fail(location, NO_ENGINE)
        return None
    left = ctx.deadline - time.monotonic()
    budget = min(ctx.limits.ocr_budget_s, left)
    if budget <= 0:
        ctx.check_time()
    api.SetImageBytes(gray.tobytes(), gray.width, gray.height, 1, gray.width)
    finished = api.Recognize(timeout=max(1, int(budget * 1000)))
    text = api.GetUTF8Text() if finished else None
    api.Clear()
    if text is None:
        ctx.check_time()  # the message's deadline: the whole scan stops
        ctx.fail(location, OVER_TIME)  # this image's budget: the message carries on
    return text


def prepare(image: Image) -> Image:
    """``image`` as Tesseract reads it best: upright (EXIF), transparency and palette
    flattened on white, grey, levelled, small text enlarged and huge pages reduced."""
    from PIL import Image as PILImage  # noqa: PLC0415
    from PIL import ImageOps  # noqa: PLC0415

    if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation: as the viewer shows it
        image = ImageOps.exif_transpose(image)
    if image.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(white, rgba)
    gray = _gray(image)
    angle, line = layout(gray)
    if angle:
        gray = gray.rotate(angle, PILImage.Resampling.BICUBIC, expand=True, fillcolor=255)
    scale = 1.0
    if 0 < line < LINE_PX:
        scale = min(MAX_UPSCALE, LINE_PX / line)
    elif gray.width * gray.height > DOWNSCALE_PIXELS:
        scale = (DOWNSCALE_PIXELS / (gray.width * gray.height)) ** 0.5
    if scale != 1.0:
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, PILImage.Resampling.LANCZOS)
    # Tesseract misses text that touches the edge (a tight crop): give it a margin.
    return ImageOps.expand(gray, border=PAD, fill=255)


def _gray(image: Image) -> Image:
    """8-bit grey; 16-bit and float scans (which ``convert`` would clip to white) are
    stretched from their darkest to their lightest value."""
    from PIL import Image as PILImage  # noqa: PLC0415

    if image.mode == "L":
        return image
    if image.mode.startswith(("I", "F")):
        import numpy as np  # noqa: PLC0415

        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        return PILImage.fromarray(scaled.astype(np.uint8), "L")
    return image.convert("L")


def layout(gray: Image) -> tuple[float, float]:
    """(degrees that level the lines of text in ``gray``, their height in pixels; 0
    when there is no line to measure).

    A page fed 2-3 degrees askew makes Tesseract's layout analysis merge or drop whole
    lines.  The angle that gives the sharpest row profile of the ink (the sum of squared
    differences between neighbouring rows) is the one that levels the lines; it is
    searched on a copy at most ``_SKEW_SIDE`` pixels wide, in steps of a quarter degree.
    The level profile's runs of inked rows are the lines, whose median height says how
    much small text must be enlarged.
    """
    import numpy as np  # noqa: PLC0415
    from PIL import Image as PILImage  # noqa: PLC0415

    factor = max(1, -(-max(gray.size) // _SKEW_SIDE))
    ink = (gray.reduce(factor) if factor > 1 else gray).point(lambda v: 255 if v < 128 else 0)
    profiles: dict[float, Any] = {}

    def sharpness(angle: float) -> float:
        turned = ink.rotate(angle, PILImage.Resampling.BILINEAR, fillcolor=0) if angle else ink
        rows = np.asarray(turned.resize((1, turned.height), PILImage.Resampling.BOX), float)
        profiles[angle] = rows.ravel()
        return float(np.square(np.diff(profiles[angle])).sum())

    level = best = sharpness(0.0)
    angle = 0.0
    for step in _SKEW_ANGLES:
        score = sharpness(step)
        if score > best:
            best, angle = score, step
    for step in (angle - 0.25, angle + 0.25):
        score = sharpness(step)
        if score > best:
            best, angle = score, step
    if best <= level * _SKEW_GAIN:
        angle = 0.0
    return angle, _line_height(profiles[angle]) * factor


def _line_height(profile: Any) -> float:
    """Median height of the runs of inked rows in a row profile (mean ink per row):
    a row is inked past a share of the well-inked rows, so specks of noise are not."""
    import numpy as np  # noqa: PLC0415

    if not profile.size or not profile.max():
        return 0.0
    inked = profile > np.percentile(profile, 90) * 0.15
    edges = np.flatnonzero(np.diff(np.concatenate(([0], inked.astype(np.int8), [0]))))
    runs = edges[1::2] - edges[0::2]
    runs = runs[runs >= 2]
    return float(np.median(runs)) if runs.size else 0.0


def _digest(image: Image) -> bytes:
    """Key of the cache: the decoded pixels and how they are turned (so the same logo
    in PNG or in an uncompressed TIFF is one entry), before any preparing is paid for."""
    turn = image.getexif().get(0x0112, 1)
    h = hashlib.sha256(f"{image.mode}{image.size}{turn}".encode())
    h.update(image.tobytes())
    if image.mode == "P":
        h.update(bytes(image.getpalette() or ()))
    return h.digest()
