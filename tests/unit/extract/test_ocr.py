"""Tests of the OCR stage (``gateway.extract.ocr``): what it reads, and the budgets,
skips and cache that keep images from costing more than they carry."""

from __future__ import annotations

import logging
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from PIL import Image

from gateway.budget import OverBudget
from gateway.extract import extract, ocr
from gateway.extract.context import Blob, Context, Limits
from gateway.segments import OCR
from tests.imagegen import (
    Scan,
    animated_gif,
    encode,
    fold,
    fold_ocr,
    multipage_tiff,
    render,
    scans,
)

ADDRESS = ["Flat 3, 27 Kingfisher Road", "Leeds LS6 3QT"]


def read(data: bytes, limits: Limits | None = None, name: str = "scan.png") -> Context:
    """The context after reading one image file as an attachment called ``name``."""
    ctx = Context(limits or Limits())
    ocr.read_image(ctx, Blob(data, name, "", f"attachment:{name}", 0))
    return ctx


def texts(ctx: Context) -> dict[str, str]:
    """Folded OCR text by location."""
    return {s.location: fold(s.text) for s in ctx.segments if s.reading == OCR}


def reasons(ctx: Context) -> list[tuple[str, str]]:
    return [(u.location, u.reason) for u in ctx.unreadable]


class CountingApi:
    """A stand-in for Tesseract that reads every image as the same text."""

    def __init__(self) -> None:
        self.calls = 0

    def SetImageBytes(self, *args: Any) -> None:
        self.calls += 1

    def Recognize(self, timeout: int = 0) -> bool:
        return True

    def GetUTF8Text(self) -> str:
        return "counted"

    def Clear(self) -> None:
        pass


class FakeEngine(ocr.Engine):
    def __init__(self, api: CountingApi | None) -> None:
        super().__init__()
        self.fake = api

    def api(self) -> Any:
        return self.fake


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingApi]:
    """Tesseract replaced by a counter, with an empty cache."""
    api = CountingApi()
    monkeypatch.setattr(ocr, "engine", FakeEngine(api))
    monkeypatch.setattr(ocr, "cache", ocr.TextCache())
    return api


def test_an_address_in_a_png_is_read_with_its_location() -> None:
    """A rendered address comes back as an OCR segment at the attachment's location."""
    ctx = read(encode(render(ADDRESS), "PNG"))
    assert {"attachment:scan.png": fold("".join(ADDRESS))} == texts(ctx)
    assert [] == reasons(ctx)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(scans(dpi=(200, 300)).map(lambda s: replace(s, salt=0.0)))
def test_scanned_text_is_read_back(scan: Scan) -> None:
    """Any font, 10-14 pt, askew up to 3 degrees, gaussian noise and JPEG at 200-300
    dpi: the street and the postcode come back, as the matcher compares OCR text (case,
    spaces and OCR's usual confusions folded).  Salt-and-pepper noise, and a Q (often
    read as 0), are left to the benchmark's recall figure."""
    ctx = Context(Limits())
    ocr.read_picture(ctx, render(["Flat 3, 27 Kingfisher Road", "Leeds LS6 2NH"], scan), "x")
    text = fold_ocr(" ".join(s.text for s in ctx.segments))
    assert fold_ocr("27 Kingfisher Road") in text
    assert fold_ocr("LS6 2NH") in text


def test_every_page_of_a_tiff_is_read_at_its_own_location() -> None:
    """Page 1 keeps the file's location, later pages get ``#page=N``."""
    pages = [render([f"Page {n} of the letter", f"LS{n} 3QT"]) for n in (1, 2, 3)]
    ctx = read(multipage_tiff(pages), name="letter.tif")
    found = texts(ctx)
    assert [
        "attachment:letter.tif",
        "attachment:letter.tif#page=2",
        "attachment:letter.tif#page=3",
    ] == (sorted(found))
    assert "ls23qt" in found["attachment:letter.tif#page=2"]


@pytest.mark.parametrize("side", [100_000, 9_500, 7_000])
def test_a_pixel_bomb_is_over_size_before_it_is_decoded(side: int) -> None:
    """A PNG whose header claims more pixels than the limit is refused from the header:
    past Pillow's refusal (10 Gpx), its warning (90 Mpx) or only ours (49 Mpx)."""
    ctx = read(_png_claiming(side, side))
    assert [("attachment:scan.png", "over size limit")] == reasons(ctx)


def test_an_image_over_the_pixel_limit_is_over_size() -> None:
    """``max_image_pixels`` applies below Pillow's own bomb limit too."""
    ctx = read(encode(render(ADDRESS), "PNG"), Limits(max_image_pixels=10_000))
    assert [("attachment:scan.png", "over size limit")] == reasons(ctx)
    assert {} == texts(ctx)


def test_too_many_frames_reads_the_first_and_reports_the_rest(counting: CountingApi) -> None:
    """Past ``max_image_frames`` the image is unscannable; the frames before are read."""
    frames = [render([f"Frame {n}"]) for n in range(4)]
    ctx = read(animated_gif(frames), Limits(max_image_frames=2), name="a.gif")
    assert [("attachment:a.gif", "too many frames")] == reasons(ctx)
    assert ["attachment:a.gif", "attachment:a.gif#page=2"] == [s.location for s in ctx.segments]


def test_an_image_past_its_time_budget_is_unscannable_and_the_message_goes_on() -> None:
    """A dense page with a 1 ms OCR budget: that image is `over time budget`, and the
    rest of the message is still read."""
    page = render(["Flat 3, 27 Kingfisher Road, Leeds LS6 3QT, tel 0113 496 0321"] * 30)
    raw = _message_with(("scan.png", encode(page, "PNG")), ("notes.txt", b"Heron Close"))
    result = extract(raw, Limits(ocr_budget_s=0.001))
    assert [("attachment:scan.png", "over time budget")] == [
        (u.location, u.reason) for u in result.unreadable
    ]
    assert "Heron Close" in [s.text for s in result.segments if s.location.endswith("notes.txt")]


def test_an_image_past_the_message_deadline_stops_the_scan() -> None:
    """The message's own deadline raises ``OverBudget``, like every other extractor."""
    ctx = Context(Limits(), deadline=time.monotonic() - 1)
    with pytest.raises(OverBudget):
        ocr.read_image(ctx, Blob(encode(render(ADDRESS), "PNG"), "a.png", "", "a", 0))


@pytest.mark.slow
def test_a_long_scan_stops_at_the_message_budget() -> None:
    """Twelve dense pages with a 1.5 s budget for the message: the scan stops at its
    budget (the message is `over time budget`, so it is held), not after every page."""
    pages = [
        render([f"Case note {n}, visit {k}, tenancy and repairs." for k in range(25)])
        for n in range(12)
    ]
    raw = _message_with(("letter.tiff", multipage_tiff(pages)))
    started = time.monotonic()
    result = extract(raw, Limits(time_budget_s=1.5))
    elapsed = time.monotonic() - started
    assert ("message", "over time budget") in [(u.location, u.reason) for u in result.unreadable]
    assert elapsed < 1.5 + 3.0  # one page's layout analysis past the budget, on a busy box


def test_a_repeated_logo_is_read_once(counting: CountingApi) -> None:
    """The same pixels twice (even in another format) cost one OCR and one lookup."""
    logo = render(["Leeds City Council"])
    read(encode(logo, "PNG"))
    ctx = read(encode(logo, "BMP"), name="logo.bmp")
    assert 1 == counting.calls
    assert 1 == ocr.cache.hits
    assert ["attachment:logo.bmp"] == [s.location for s in ctx.segments]


def test_the_cache_is_bounded() -> None:
    """The least recently used text is dropped first."""
    cache = ocr.TextCache(entries=2)
    for key in (b"a", b"b", b"c"):
        cache.put(key, key.decode())
    assert (None, "b", "c") == (cache.get(b"a"), cache.get(b"b"), cache.get(b"c"))


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (40, 7), (19, 60)])
def test_images_too_small_for_text_are_skipped(
    counting: CountingApi, size: tuple[int, int]
) -> None:
    """A tracker pixel or an icon is neither read nor unscannable."""
    ctx = read(encode(Image.new("RGB", size, (200, 30, 30)), "PNG"))
    assert ([], [], 0) == (ctx.segments, ctx.unreadable, counting.calls)


def test_a_small_crop_of_a_postcode_is_still_read() -> None:
    """A postcode about 60 x 15 pixels (7.5 pt at 96 dpi) is above the skip threshold
    and is read."""
    crop = render(["LS6 3QT"], Scan(font="DejaVuSans", pt=7.5, dpi=96))
    crop = crop.crop(_ink_box(crop, margin=2))
    assert crop.width <= 64
    assert crop.height <= 16
    ctx = Context(Limits())
    ocr.read_picture(ctx, crop, "body/image1.png")
    assert "ls63qt" in texts(ctx)["body/image1.png"]


def test_ocr_off_makes_every_image_unscannable(counting: CountingApi) -> None:
    """With ``Limits.ocr`` false, an image is `not read: OCR off` and nothing is run."""
    ctx = read(encode(render(ADDRESS), "PNG"), Limits(ocr=False))
    assert [("attachment:scan.png", ocr.OCR_OFF)] == reasons(ctx)
    ocr.read_picture(ctx, render(ADDRESS), "attachment:a.pdf#page=2")
    assert ("attachment:a.pdf#page=2", ocr.OCR_OFF) == reasons(ctx)[-1]
    assert 0 == counting.calls


def test_without_tesseract_images_are_unscannable_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No language data: each image is `OCR not available`; one warning, no content."""
    monkeypatch.setattr(ocr, "engine", ocr.Engine(find=lambda: None))
    monkeypatch.setattr(ocr, "cache", ocr.TextCache())
    with caplog.at_level(logging.WARNING, logger="gateway.extract.ocr"):
        first = read(encode(render(ADDRESS), "PNG"))
        second = read(encode(render(["Other text"]), "PNG"))
    assert [("attachment:scan.png", ocr.NO_ENGINE)] == reasons(first) == reasons(second)
    assert ["OCR not available: images are unscannable"] == [r.getMessage() for r in caplog.records]


def test_tessdata_is_found_from_the_environment_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``TESSDATA_PREFIX`` wins when it holds ``eng``; a folder without it is passed over."""
    (tmp_path / "eng.traineddata").write_bytes(b"")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    assert str(tmp_path) == ocr.tessdata()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "missing"))
    assert str(tmp_path) != ocr.tessdata()


def test_exif_orientation_is_applied() -> None:
    """A phone photo stored sideways with an EXIF rotation is read as it is shown."""
    upright = render(ADDRESS, Scan(pt=14))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    data = encode(upright.rotate(90, expand=True), "JPEG", quality=90, exif=exif)
    assert "ls63qt" in texts(read(data, name="photo.jpg"))["attachment:photo.jpg"]


def test_a_16_bit_scan_is_read() -> None:
    """A 16-bit greyscale PNG (as some scanners write) is not clipped to white."""
    deep = render(ADDRESS).convert("I").point(lambda v: 1000 + v * 230).convert("I;16")
    assert "ls63qt" in texts(read(encode(deep, "PNG")))["attachment:scan.png"]


def test_transparent_text_is_read_on_white() -> None:
    """Black text on a transparent background (a screenshot, a logo) is read; without
    flattening, the transparent pixels would be black too."""
    mask = render(ADDRESS).point(lambda v: 255 - v)
    image = Image.new("RGBA", mask.size, (0, 0, 0, 0))
    image.putalpha(mask)
    assert "ls63qt" in texts(read(encode(image, "PNG")))["attachment:scan.png"]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scans(dpi=(200,)).map(lambda s: Scan(s.font, 12.0, 200, seed=s.seed)))
def test_each_format_is_read(scan: Scan) -> None:
    """PNG, JPEG, TIFF, GIF, BMP and WebP of the same text all read alike."""
    image = render(["Leeds LS6 2NH"], scan)
    for fmt in ocr.FORMATS:
        found = texts(read(encode(image, fmt), name=f"x.{fmt.lower()}"))
        assert fold_ocr("LS6 2NH") in fold_ocr("".join(found.values())), fmt


def _message_with(*files: tuple[str, bytes]) -> bytes:
    """A message with a short body and ``files`` attached."""
    msg = EmailMessage()
    msg["Subject"] = "scan"
    msg.set_content("see attached")
    for name, data in files:
        msg.add_attachment(data, "application", "octet-stream", filename=name)
    return msg.as_bytes()


def _ink_box(image: Image.Image, margin: int) -> tuple[int, int, int, int]:
    """The box around the dark pixels of ``image``, ``margin`` pixels wider."""
    left, top, right, bottom = image.point(lambda v: 255 if v < 128 else 0).getbbox() or (
        0,
        0,
        *image.size,
    )
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(image.width, right + margin),
        min(image.height, bottom + margin),
    )


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels and holds almost none."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    data = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
