"""``python -m benchmarks.pdfpages [FILE.pdf ...]``: what the page survey, the
hidden-text check and scanned pages cost, with a baseline in the same run.

(a) per page of each PDF (generated reports, and any given on the command line):
    ``read_pdf`` as shipped; with the survey stubbed out (the text layer alone, the
    code before issue 12); with the hidden-text check forced on every page; how many
    pages the survey's gate sent to the check, and how many redaction segments.
(b) a 40-line searchable scan: read with its text layer, against OCR of its picture.
(c) a message of 50 distinct scanned A4 pages at 200 dpi through ``gateway.scan``
    with a 10 s budget: when it returns, past the budget.
Figures vary with the machine (and its load); read the ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from gateway.envelope import Envelope
from gateway.extract import Limits, ocr, pdfpage, pdfpicture
from gateway.extract.context import Blob, Context
from gateway.extract.pdf import read_pdf
from gateway.match import build_index
from gateway.policy import default_policy_dir, load_policy
from gateway.register import load_register
from gateway.scan import ScanSettings, scan
from gateway.segments import REDACTION
from tests.pdfgen import Hide, Page, dense_scan, report, searchable_scan
from tests.unit.extract.builders import message, raw
from tests.unit.extract.test_pdf_ocr import HOSTILE

LINES = [f"Line {i}: the assessment of the family's needs, reference {i * 31}" for i in range(45)]


def _best(data: bytes, runs: int = 5) -> tuple[float, Context]:
    best, ctx = float("inf"), Context(Limits())
    for _ in range(runs):
        ctx = Context(Limits(time_budget_s=120))
        started = time.perf_counter()
        read_pdf(ctx, Blob(data, "a.pdf", "", "a", 0))
        best = min(best, time.perf_counter() - started)
    return best, ctx


def _with_survey(survey: Callable[[pdfium.PdfPage], pdfpage.Survey], data: bytes) -> float:
    shipped = pdfpage.survey
    pdfpage.survey = survey
    try:
        return _best(data)[0]
    finally:
        pdfpage.survey = shipped


def page_costs(documents: dict[str, bytes]) -> None:
    """(a): per-page milliseconds, shipped against the baselines."""
    shipped = pdfpage.survey
    for name, data in documents.items():
        pages = len(pdfium.PdfDocument(data))
        gated = []

        def counting(page: pdfium.PdfPage, gated: list[bool] = gated) -> pdfpage.Survey:
            found = shipped(page)
            gated.append(found.suspicious)
            return found

        def forced(page: pdfium.PdfPage) -> pdfpage.Survey:
            found = shipped(page)
            found.suspicious = True
            return found

        as_shipped, ctx = _best(data)
        _with_survey(counting, data)
        text_only = _with_survey(lambda page: pdfpage.Survey(drawn=True), data)
        every_page = _with_survey(forced, data)
        found = sum(1 for s in ctx.segments if s.hidden == REDACTION)
        print(
            f"{name}: {pages} pages, {sum(gated[:pages])} gated, {found} redaction segments; "
            f"ms/page: text layer alone {text_only / pages * 1000:.1f}, "
            f"as shipped {as_shipped / pages * 1000:.1f}, "
            f"check on every page {every_page / pages * 1000:.1f}"
        )


def searchable() -> None:
    """(b): a searchable scan read with its layer, against OCR of its picture."""
    data = searchable_scan(LINES[:40], 200, Page(size=10))
    with_layer, _ = _best(data, 3)
    document = pdfium.PdfDocument(data)
    page = document[0]
    obj, _box = pdfpage.survey(page).images[0]
    picture = pdfpicture.decode(page, obj)
    assert picture is not None
    ocr.cache.clear()
    started = time.perf_counter()
    ocr.read_picture(Context(Limits(time_budget_s=60)), picture, "x")
    again = time.perf_counter() - started
    print(f"searchable scan: with its layer {with_layer * 1000:.0f} ms; OCR again {again:.2f} s")


def fifty_pages() -> None:
    """(c): 50 scanned pages against a 10 s budget."""
    register = load_register(HOSTILE)
    index = build_index(register.cases, register.protected_locations)
    policy = load_policy(default_policy_dir())
    mail = raw(message(attachments=[("scan.pdf", dense_scan(50), "application/pdf")]))
    settings = ScanSettings(("council.example.gov.uk",), Limits(time_budget_s=10.0))
    envelope = Envelope("officer@council.example.gov.uk", ("mark.whitmore@example.com",), mail)
    started = time.monotonic()
    result = scan(envelope, index, policy, settings)
    seconds = time.monotonic() - started
    kinds = sorted({(f.kind.value, f.reason) for f in result.match.findings})
    print(
        f"50 scanned pages, 10 s budget: returned after {seconds:.2f} s "
        f"({seconds - 10:+.2f} s), {result.verdict.action.value}, {kinds}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("pdfs", nargs="*", type=Path, help="more PDFs to measure (a)")
    run(parser.parse_args().pdfs)


def run(pdfs: list[Path]) -> None:
    """(a), (b) and (c), on the generated reports and ``pdfs``."""
    documents = {
        "report, 20 pages": report(LINES, None, Page(size=10), pages=20),
        "report, 20 pages, a box on page 1": report(LINES, Hide(line=3), Page(size=10), pages=20),
    }
    documents.update({path.name: path.read_bytes() for path in pdfs})
    page_costs(documents)
    searchable()
    fifty_pages()


if __name__ == "__main__":
    main()
