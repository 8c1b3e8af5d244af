"""End to end through the core: leaks inside real attachments made by the libraries."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from gateway.envelope import Envelope
from gateway.match import Index, build_index
from gateway.policy import Policy, default_policy_dir, load_policy
from gateway.register import load_register
from gateway.scan import ScanResult, ScanSettings, scan
from tests.integration.support import LANDLORD, MARK, REGISTER

STREET = "27 Kingfisher Road"
DOCX = "vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "vnd.openxmlformats-officedocument.presentationml.presentation"


@pytest.fixture(scope="module")
def core() -> tuple[Index, Policy]:
    register = load_register(REGISTER)
    return build_index(register.cases, register.protected_locations), load_policy(
        default_policy_dir()
    )


def run(core: tuple[Index, Policy], msg: EmailMessage, rcpt: str = LANDLORD) -> ScanResult:
    envelope = Envelope("worker@council.example.gov.uk", (rcpt,), msg.as_bytes())
    return scan(envelope, *core, ScanSettings(internal_domains=("council.example.gov.uk",)))


def with_attachment(
    name: str,
    data: bytes,
    subtype: str,
    maintype: str = "application",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "worker@council.example.gov.uk", LANDLORD, "Docs"
    msg.set_content("Please see the attached.")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def pdf(text: str = STREET, field: str = "") -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Assessment report")
    page.showPage()
    if field:
        page.acroForm.textfield(name="address", value=field, x=72, y=600, width=300)
    else:
        page.drawString(72, 700, text)
    page.drawString(72, 680, "Leeds LS6 3QT")
    page.showPage()
    page.save()
    return out.getvalue()


def docx(cells: tuple[str, str] = ("27", "Kingfisher Road"), header: str = "") -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph("Tenancy details")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = cells
    document.sections[0].header.paragraphs[0].text = header
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "No", "Street", "Phone"])
    sheet.append(["S Whitmore", 27, "Kingfisher Rd", "07700 900461"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx() -> bytes:
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    assert slide.shapes.title is not None
    slide.shapes.title.text = f"Visit: {STREET}, Leeds"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def forwarded() -> EmailMessage:
    inner = with_attachment("letter.pdf", pdf(), "pdf")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "w@council.example.gov.uk", LANDLORD, "Fwd"
    outer.set_content("Forwarding the letter below.")
    outer.add_attachment(inner, filename="fwd.eml")
    return outer


CASES: list[tuple[str, Callable[[], EmailMessage], str]] = [
    ("pdf page", lambda: with_attachment("letter.pdf", pdf(), "pdf"), "attachment:letter.pdf"),
    (
        "pdf form field",
        lambda: with_attachment("form.pdf", pdf(field="27 Kingfisher Rd, Leeds"), "pdf"),
        "attachment:form.pdf",
    ),
    ("docx table cells", lambda: with_attachment("t.docx", docx(), DOCX), "attachment:t.docx"),
    (
        "docx header",
        lambda: with_attachment("h.docx", docx(("a", "b"), f"{STREET}, Leeds"), DOCX),
        "attachment:h.docx",
    ),
    ("xlsx cells", lambda: with_attachment("list.xlsx", xlsx(), XLSX), "attachment:list.xlsx"),
    ("pptx slide", lambda: with_attachment("deck.pptx", pptx(), PPTX), "attachment:deck.pptx"),
    (
        "zip with docx",
        lambda: with_attachment("bundle.zip", zipped({"report.docx": docx()}), "zip"),
        "attachment:bundle.zip/report.docx",
    ),
    (
        "nested zip",
        lambda: with_attachment(
            "outer.zip", zipped({"inner.zip": zipped({"notes/a.txt": f"{STREET}".encode()})}), "zip"
        ),
        "attachment:outer.zip/inner.zip/notes/a.txt",
    ),
    ("forwarded mail with pdf", forwarded, "attachment:fwd.eml/letter.pdf"),
]


@pytest.mark.parametrize(("label", "build", "location"), CASES, ids=[c[0] for c in CASES])
def test_address_inside_an_attachment_is_held(
    core: tuple[Index, Policy], label: str, build: Callable[[], EmailMessage], location: str
) -> None:
    """The protected address in any supported attachment holds mail to an outsider."""
    result = run(core, build())
    assert "quarantine" == result.verdict.action.value, label
    found = {(f.kind.value, f.location) for f in result.match.findings}
    assert ("address", location) in found


def test_different_house_number_in_a_docx_is_delivered(core: tuple[Index, Policy]) -> None:
    """A near miss inside a document is not a leak."""
    msg = with_attachment("t.docx", docx(("29", "Kingfisher Road")), DOCX)
    assert "deliver" == run(core, msg).verdict.action.value


def test_encrypted_zip_to_a_restricted_contact_is_held(core: tuple[Index, Policy]) -> None:
    """Content that cannot be read, going to a restricted contact, is quarantined."""
    data = bytearray(zipped({"secret.txt": b"hello"}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.find(signature) + offset] |= 0x1  # the "encrypted" flag
    msg = with_attachment("secret.zip", bytes(data), "zip")
    held = run(core, msg, rcpt=MARK)
    assert "quarantine" == held.verdict.action.value
    assert ["restricted-recipient-unscannable"] == held.verdict.rules
    assert "deliver" == run(core, msg).verdict.action.value


def test_xlsx_date_cell_is_read_as_a_date(core: tuple[Index, Policy]) -> None:
    """A date of birth typed into a spreadsheet date cell is found."""
    import datetime as dt

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Sarah Whitmore", dt.date(1988, 4, 17)])
    out = io.BytesIO()
    book.save(out)
    result = run(core, with_attachment("dob.xlsx", out.getvalue(), XLSX), rcpt=MARK)
    kinds = {f.kind.value for f in result.match.findings}
    assert {"name", "date_of_birth"} <= kinds
