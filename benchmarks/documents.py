"""Pages per second for PDF and DOCX attachments, built here with reportlab and python-docx."""

from __future__ import annotations

import io
import time
from email.message import EmailMessage

from gateway.extract import extract

LINE = "Tenancy review for the property, heating, repairs and rent account {n}. "


def pdf_bytes(pages: int) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    doc = canvas.Canvas(out, pagesize=A4)
    for page in range(pages):
        for row in range(40):
            doc.drawString(40, 800 - row * 19, LINE.format(n=page * 40 + row))
        doc.showPage()
    doc.save()
    return out.getvalue()


def docx_bytes(pages: int) -> bytes:
    from docx import Document
    from docx.enum.text import WD_BREAK

    doc = Document()
    for page in range(pages):
        for row in range(12):
            doc.add_paragraph(LINE.format(n=page * 12 + row) * 3)
        doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def message_with(name: str, data: bytes, subtype: str, maintype: str = "application") -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "report"
    msg.set_content("see attached")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def pages_per_second(raw: bytes, pages: int, rounds: int = 3) -> float:
    best = min(_timed(raw) for _ in range(rounds))
    return pages / best


def _timed(raw: bytes) -> float:
    started = time.perf_counter()
    extraction = extract(raw)
    elapsed = time.perf_counter() - started
    if not extraction.segments or extraction.unreadable:
        raise RuntimeError("benchmark document was not read")
    return elapsed


def report(pages: int) -> None:
    pdf = message_with("report.pdf", pdf_bytes(pages), "pdf")
    docx_type = "vnd.openxmlformats-officedocument.wordprocessingml.document"
    docx = message_with("report.docx", docx_bytes(pages), docx_type)
    print(
        f"attachments      PDF {pages_per_second(pdf, pages):7.0f} pages/s   "
        f"DOCX {pages_per_second(docx, pages):7.0f} pages/s   ({pages}-page documents)"
    )
