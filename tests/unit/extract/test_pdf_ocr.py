"""PDF pages read by OCR (``gateway.extract.pdf`` with ``gateway.extract.pdfpage``):
a page without a text layer (a scan) and a picture drawn on a page with text (a
pasted scan) are read at ``<location>#page=N``; a searchable scan is not read twice;
a message of many scanned pages stops at its time budget, held, never delivered."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.envelope import Envelope
from gateway.extract import extract, ocr, pdf, pdfpage
from gateway.extract.context import Blob, Context, Limits
from gateway.extract.ocr import OCR_OFF
from gateway.extract.pdf import read_pdf
from gateway.match import Index, build_index
from gateway.policy import default_policy_dir, load_policy
from gateway.register import load_register
from gateway.scan import ScanSettings, scan
from gateway.segments import OCR, Segment
from tests.imagegen import Scan, fold, fold_ocr, render, scans
from tests.pdfgen import (
    dense_scan,
    report,
    scanned_pdf,
    searchable_scan,
    text_with_picture,
    text_with_pictures,
)
from tests.unit.extract.attachment_builders import raw_pdf
from tests.unit.extract.builders import message, raw

ADDRESS = ["Flat 3, 27 Kingfisher Road", "Leeds LS6 3QT"]
LETTER = ["Dear Ms Fairbairn,", *ADDRESS, "Your appointment is on Monday."]
HOSTILE = Path(__file__).resolve().parents[2] / "corpus" / "hostile" / "register.yaml"


@pytest.fixture(autouse=True)
def _no_cached_text() -> None:
    """Each test reads its pictures afresh (the OCR cache lives for the process)."""
    ocr.cache.clear()


def read(data: bytes, limits: Limits | None = None) -> Context:
    """The context after reading one PDF attached as ``scan.pdf``."""
    ctx = Context(limits or Limits())
    read_pdf(ctx, Blob(data, "scan.pdf", "", "attachment:scan.pdf", 0))
    return ctx


def ocr_text(segments: list[Segment], location: str) -> str:
    """Folded OCR text read at ``location``."""
    return "".join(
        fold_ocr(s.text) for s in segments if s.reading == OCR and s.location == location
    )


def test_each_scanned_page_is_read_at_its_page() -> None:
    """A two-page image-only PDF: each page's text is an OCR segment at #page=N."""
    pages = [render(LETTER, Scan(page=True)), render(["Reference 40417 Harrow"], Scan(page=True))]
    ctx = read(scanned_pdf(pages))
    assert fold_ocr("".join(ADDRESS)) in ocr_text(ctx.segments, "attachment:scan.pdf#page=1")
    assert fold_ocr("Reference 40417 Harrow") in ocr_text(
        ctx.segments, "attachment:scan.pdf#page=2"
    )
    assert [] == ctx.unreadable


@pytest.mark.slow
@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    scan_=scans(dpi=(200, 300)).map(lambda s: replace(s, salt=0.0, page=True)),
    at=st.sampled_from(((0.1, 0.1), (0.3, 0.6))),
)
def test_a_scanned_page_is_read_whatever_the_scan(scan_: Scan, at: tuple[float, float]) -> None:
    """Any font, 10-14 pt, askew up to 3 degrees, gaussian noise and JPEG, at 200 or
    300 dpi, anywhere on the page, saved as scanners do (JPEG in the PDF): the street
    and the postcode are read off the page (salt-and-pepper noise, as in
    ``test_ocr``, is left to the benchmark's recall figure)."""
    page = render(["Flat 3, 27 Kingfisher Road", "Leeds LS6 2NH"], replace(scan_, at=at))
    text = ocr_text(read(scanned_pdf([page], scan_.dpi)).segments, "attachment:scan.pdf#page=1")
    assert fold_ocr("27 Kingfisher Road") in text
    assert fold_ocr("LS6 2NH") in text


def test_a_picture_on_a_text_page_is_read() -> None:
    """A report page of text with a scanned letter pasted into it: the letter's text
    is read by OCR at the page, and the page's own text as usual."""
    ctx = read(text_with_picture(["Report on the home visit"], render(ADDRESS, Scan(dpi=200))))
    assert fold_ocr("".join(ADDRESS)) in ocr_text(ctx.segments, "attachment:scan.pdf#page=1")
    assert ["reportonthehomevisit"] == [
        fold(s.text) for s in ctx.segments if s.location == "attachment:scan.pdf"
    ]


def test_a_searchable_scan_is_not_read_twice() -> None:
    """A scan with its OCR layer: the layer is the page's text; no OCR segment."""
    ctx = read(searchable_scan(LETTER))
    assert [] == [s for s in ctx.segments if s.reading == OCR]
    assert fold("".join(ADDRESS)) in fold(ctx.segments[0].text)


def test_a_text_pdf_pays_no_ocr() -> None:
    """The benign twin of a scan: a PDF with a text layer and no picture gets no OCR
    segment and nothing unreadable, with OCR on or off."""
    for limits in (Limits(), Limits(ocr=False)):
        ctx = read(report(LETTER), limits)
        assert [] == [s for s in ctx.segments if s.reading == OCR]
        assert [] == ctx.unreadable


def test_with_ocr_off_a_scanned_page_is_unreadable() -> None:
    """OCR off: each scanned page is unreadable, "not read: OCR off", at its page."""
    pages = [render(LETTER, Scan(page=True)), render(ADDRESS, Scan(page=True))]
    ctx = read(scanned_pdf(pages), Limits(ocr=False))
    assert [("attachment:scan.pdf#page=1", OCR_OFF), ("attachment:scan.pdf#page=2", OCR_OFF)] == [
        (u.location, u.reason) for u in ctx.unreadable
    ]


def test_a_scanned_letter_in_a_message_is_read_through_extract() -> None:
    """End to end through ``extract``: the scan attached to a message."""
    pdf = scanned_pdf([render(LETTER, Scan(page=True))])
    segments = list(
        extract(raw(message(attachments=[("scan.pdf", pdf, "application/pdf")]))).segments
    )
    assert fold_ocr("".join(ADDRESS)) in ocr_text(segments, "attachment:scan.pdf#page=1")


@pytest.mark.slow
def test_fifty_scanned_pages_are_held_at_the_budget() -> None:
    """A message of 50 scanned A4 pages at 200 dpi to a restricted contact ends
    ``unscannable`` (over time budget) at its 10 s budget, held, never delivered, and
    the scan returns soon after the budget (the worker is free)."""
    register = load_register(HOSTILE)
    index: Index = build_index(register.cases, register.protected_locations)
    policy = load_policy(default_policy_dir())
    sender, rcpt = "officer@council.example.gov.uk", "mark.whitmore@example.com"
    mail = raw(message(attachments=[("scan.pdf", dense_scan(50), "application/pdf")]))
    settings_ = ScanSettings(("council.example.gov.uk",), Limits(time_budget_s=10.0))
    started = time.monotonic()
    result = scan(Envelope(sender, (rcpt,), mail), index, policy, settings_)
    seconds = time.monotonic() - started
    assert "quarantine" == result.verdict.action.value
    assert ("unscannable", "over time budget") in [
        (f.kind.value, f.reason) for f in result.match.findings
    ]
    assert seconds <= 10.0 + 3.0  # one page's OCR at most past the budget, with margin


def _heavy_vector_page() -> bytes:
    """One page of some 100,000 large filled triangles and no text: minutes of
    rasterising at 200 dpi."""
    rng = random.Random(1)  # noqa: S311  (shapes, not secrets)
    ops = b"".join(
        b"%d %d m %d %d l %d %d l f\n" % tuple(rng.randrange(800) for _ in range(6))
        for _ in range(100_000)
    )
    return raw_pdf(ops)


def test_rendering_a_heavy_page_stops_at_the_picture_budget() -> None:
    """A page that would take minutes to render for OCR is given up at the picture's
    budget: unreadable, over time budget, at its page; the scan goes on."""
    started = time.monotonic()
    ctx = read(_heavy_vector_page(), Limits(ocr_budget_s=1.0))
    assert time.monotonic() - started < 1.0 + 4.0  # the budget, plus parsing, with margin
    assert [("attachment:scan.pdf#page=1", "over time budget")] == [
        (u.location, u.reason) for u in ctx.unreadable
    ]


def test_ocr_runs_with_pdfium_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """PDFium's lock is not held while a page or picture is OCR'd: other scans'
    PDFs are not kept waiting for seconds of OCR."""
    held: list[bool] = []
    monkeypatch.setattr(ocr, "read_picture", lambda *_: held.append(pdf._PDFIUM.locked()))
    read(scanned_pdf([render(LETTER, Scan(page=True))]))
    read(text_with_picture(["Report on the home visit"], render(ADDRESS, Scan(dpi=200))))
    assert [False, False] == held


def test_pictures_past_the_page_limit_are_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page with more pictures than ``MAX_PICTURES`` reads that many and marks the
    page "too many entries", rather than spending the budget on a mosaic."""
    seen: list[str] = []
    monkeypatch.setattr(ocr, "read_picture", lambda _ctx, _image, where: seen.append(where))
    tiles = [render([f"Tile {n}"], Scan(dpi=150, seed=n)) for n in range(pdfpage.MAX_PICTURES + 3)]
    ctx = read(text_with_pictures(["Photographs of the property"], tiles))
    assert pdfpage.MAX_PICTURES == len(seen)
    assert [("attachment:scan.pdf#page=1", "too many entries")] == [
        (u.location, u.reason) for u in ctx.unreadable
    ]
