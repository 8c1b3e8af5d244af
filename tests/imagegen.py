"""Images of text as a scanner or a phone would make them, for OCR tests and benchmarks.

``render(lines, Scan(...))`` draws lines of text with a Debian font at a size in points
and a resolution in dpi, optionally on an A4 page, turned by a small angle, with
gaussian and salt-and-pepper noise and JPEG artefacts; ``encode`` and the helpers below
make the file bytes of each format OCR reads; ``scans()`` is a hypothesis strategy over
the variants.  Deterministic: the same ``Scan`` (its ``seed``) gives the same pixels.

    from tests.imagegen import Scan, render, encode
    png = encode(render(["14 Elm Road", "LS6 2QB"], Scan(dpi=150, angle=2.5)), "PNG")
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

_DEJAVU = "/usr/share/fonts/truetype/dejavu/"
_LIBERATION = "/usr/share/fonts/truetype/liberation/"
#: the fonts a test may ask for, by name (Debian's fonts-dejavu and fonts-liberation)
FONTS = {
    "DejaVuSans": _DEJAVU + "DejaVuSans.ttf",
    "DejaVuSerif": _DEJAVU + "DejaVuSerif.ttf",
    "DejaVuSansMono": _DEJAVU + "DejaVuSansMono.ttf",
    "LiberationSans": _LIBERATION + "LiberationSans-Regular.ttf",
    "LiberationSerif": _LIBERATION + "LiberationSerif-Regular.ttf",
    "LiberationMono": _LIBERATION + "LiberationMono-Regular.ttf",
}
#: A4 in inches
A4 = (8.27, 11.69)
#: the formats ``encode`` writes (those the gateway reads by OCR)
FORMATS = ("PNG", "JPEG", "TIFF", "GIF", "BMP", "WEBP")


@dataclass(frozen=True, slots=True)
class Scan:
    """How a text is put on an image."""

    font: str = "DejaVuSans"
    #: letter size in points (1/72 inch), as in a word processor
    pt: float = 11.0
    dpi: int = 200
    #: degrees, anticlockwise (a page fed askew: 2-3 degrees)
    angle: float = 0.0
    #: sigma of gaussian noise on grey levels (0-255); 0: none
    gauss: float = 0.0
    #: share of pixels turned black or white (salt and pepper); 0: none
    salt: float = 0.0
    #: JPEG quality the image went through (30-70 is a cheap scanner); None: none
    jpeg: int | None = None
    #: on a white A4 page at ``dpi``, the text's top left corner at ``at`` (fractions
    #: of the page's width and height); False: the image is the text and a margin
    page: bool = False
    at: tuple[float, float] = (0.1, 0.1)
    seed: int = 0


def pixels(pt: float, dpi: int) -> int:
    """Font size in pixels of ``pt`` points at ``dpi``."""
    return max(1, round(pt * dpi / 72))


def render(lines: Sequence[str], scan: Scan | None = None) -> Image.Image:
    """``lines`` drawn black on white as ``scan`` says (default: ``Scan()``, clean
    DejaVu Sans at 11 pt, 200 dpi): a greyscale (``L``) image."""
    scan = scan or Scan()
    font = ImageFont.truetype(FONTS[scan.font], pixels(scan.pt, scan.dpi))
    size = pixels(scan.pt, scan.dpi)
    text = "\n".join(lines)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=font, spacing=size // 3)
    margin = size
    image = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 255)
    ImageDraw.Draw(image).multiline_text(
        (margin - left, margin - top), text, font=font, fill=0, spacing=size // 3
    )
    if scan.angle:
        image = image.rotate(
            scan.angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255
        )
    if scan.page:
        image = _on_page(image, scan)
    return degrade(image, scan)


def _on_page(text: Image.Image, scan: Scan) -> Image.Image:
    """``text`` pasted on a white A4 page, kept inside it."""
    width, height = round(A4[0] * scan.dpi), round(A4[1] * scan.dpi)
    page = Image.new("L", (width, height), 255)
    x = min(round(scan.at[0] * width), max(0, width - text.width))
    y = min(round(scan.at[1] * height), max(0, height - text.height))
    page.paste(text, (x, y))
    return page


def degrade(image: Image.Image, scan: Scan) -> Image.Image:
    """``image`` with the scan's noise and JPEG artefacts (in that order)."""
    rng = random.Random(scan.seed)  # noqa: S311  (noise, not secrets)
    if scan.gauss:  # seeded (Pillow's effect_noise is not), so a failing case repeats
        grey = np.asarray(image, dtype=np.float32)
        grey += np.random.default_rng(scan.seed).normal(0.0, scan.gauss, grey.shape)
        image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L")
    if scan.salt:
        image = _salt(image, scan.salt, rng)
    if scan.jpeg is not None:
        image = Image.open(BytesIO(encode(image, "JPEG", quality=scan.jpeg))).convert("L")
    return image


def _salt(image: Image.Image, share: float, rng: random.Random) -> Image.Image:
    """``share`` of the pixels set to black or white at random."""
    uniform = Image.frombytes("L", image.size, rng.randbytes(image.width * image.height))
    cut = max(1, round(share * 128))
    pepper = uniform.point(lambda v: 255 if v < cut else 0)
    salt = uniform.point(lambda v: 255 if v >= 256 - cut else 0)
    image = Image.composite(Image.new("L", image.size, 0), image, pepper)
    return Image.composite(Image.new("L", image.size, 255), image, salt)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """The file bytes of ``image`` in ``fmt`` (one of ``FORMATS``)."""
    out = BytesIO()
    if fmt == "GIF":
        image = image.convert("P")
    elif fmt == "WEBP":
        options.setdefault("lossless", True)
    image.save(out, fmt, **options)
    return out.getvalue()


def multipage_tiff(pages: Sequence[Image.Image]) -> bytes:
    """A TIFF with one page per image (as a document scanner writes a letter)."""
    out = BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=list(pages[1:]))
    return out.getvalue()


def animated_gif(frames: Sequence[Image.Image]) -> bytes:
    """A GIF with one frame per image."""
    out = BytesIO()
    first, *rest = (frame.convert("P") for frame in frames)
    first.save(out, "GIF", save_all=True, append_images=rest, duration=500, loop=0)
    return out.getvalue()


def scans(
    dpi: Sequence[int] = (150, 200, 300), pt: tuple[float, float] = (10.0, 14.0)
) -> st.SearchStrategy[Scan]:
    """Scans as offices make them: any font, ``pt`` points, a page fed up to 3 degrees
    askew, light noise, JPEG at quality 30-70 or none."""
    return st.builds(
        Scan,
        font=st.sampled_from(sorted(FONTS)),
        pt=st.floats(*pt),
        dpi=st.sampled_from(tuple(dpi)),
        angle=st.sampled_from((0.0, -3.0, -2.0, 2.0, 2.5, 3.0)),
        gauss=st.sampled_from((0.0, 8.0, 16.0)),
        salt=st.sampled_from((0.0, 0.002, 0.005)),
        jpeg=st.sampled_from((None, 30, 50, 70)),
        seed=st.integers(0, 2**16),
    )


def fold(text: str) -> str:
    """``text`` as OCR output is compared: its letters and digits, lower case (OCR
    drops, adds and moves spaces, line breaks and punctuation freely)."""
    return "".join(c for c in text.lower() if c.isalnum())


#: OCR's usual confusions, each folded to one character: 0/O, 1/l/I, 5/S, rn/m
_CONFUSIONS = str.maketrans({"o": "0", "l": "1", "i": "1", "|": "1", "s": "5", "$": "5"})


def fold_ocr(text: str) -> str:
    """``fold`` that also forgives OCR's usual confusions (as the matcher does for OCR
    segments): compare ``fold_ocr(detail) in fold_ocr(text)``."""
    return fold(text.lower().replace("rn", "m").translate(_CONFUSIONS))
