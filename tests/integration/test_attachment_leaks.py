"""End to end through the core: leaks inside real attachments made by the libraries."""

from __future__ import annotations

import email
import importlib
import io
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- issue 9 item 7: names, sniffed parts, every archive format, PDFs drawn glyph by glyph


def _builders() -> Any:
    """The attachment builders shared with the unit tests."""
    return importlib.import_module("tests.unit.extract.attachment_builders")


def _name_leak_message(name: str, how: str, data: bytes, ctype: str = "image/png") -> EmailMessage:
    raw = _builders().mime_with_named_part(name, how, data, ctype)
    return cast(EmailMessage, email.message_from_bytes(raw, _class=EmailMessage))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    how=st.sampled_from(
        ("plain", "rfc2231", "rfc2231-continued", "rfc2047-b", "rfc2047-q", "ct-name")
    ),
    form=st.sampled_from(
        ("27 Kingfisher Road.png", "27_Kingfisher_Road.jpg", "Flat3-27KingfisherRoad.png")
    ),
    data=st.sampled_from((b"", b"\x89PNG\r\n\x1a\n" + bytes(40), b"\x00\x01\x02\x03" * 20)),
)
def test_address_in_an_attachment_name_is_held_whatever_the_file_holds(
    core: tuple[Index, Policy], how: str, form: str, data: bytes
) -> None:
    """A protected address spelt in a file name (any encoding) holds mail to an outsider,
    even when the file is an image, empty or unreadable; the name never shows."""
    result = run(core, _name_leak_message(form, how, data))
    assert "quarantine" == result.verdict.action.value
    assert all("Kingfisher" not in f.location for f in result.match.findings)
    twin = run(core, _name_leak_message(form.replace("27", "29"), how, data))
    assert "deliver" == twin.verdict.action.value


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    formats=st.lists(
        st.sampled_from(sorted(("zip", "7z", "tar", "tgz", "tar.bz2", "txz", "gz", "bz2", "xz"))),
        min_size=1,
        max_size=2,  # a compressed tar is two levels; max_depth is 5
    ),
    in_name=st.booleans(),
)
def test_address_inside_any_archive_is_held(
    core: tuple[Index, Policy], formats: list[str], in_name: bool
) -> None:
    """The address as a member's text or as its name, inside any nesting of archive
    formats, holds mail to an outsider; a different house number is delivered."""

    def build(number: str) -> EmailMessage:
        name, data = "notes.txt", f"Visit at {number} Kingfisher Road, Leeds".encode()
        if in_name:
            name, data = f"{number} Kingfisher Road.txt", b""
        for fmt in formats:
            name, data = _builders().wrap(fmt, name, data)
        return with_attachment(name, data, "octet-stream")

    assert "quarantine" == run(core, build("27")).verdict.action.value
    assert "deliver" == run(core, build("29")).verdict.action.value


def test_text_in_a_dat_file_in_utf16_is_held(core: tuple[Index, Policy]) -> None:
    """A nameless-type .dat attachment holding UTF-16 text without BOM is read as text."""
    data = f"address={STREET}, Leeds LS6 3QT".encode("utf-16-le")
    result = run(core, with_attachment("export.dat", data, "octet-stream"))
    assert "quarantine" == result.verdict.action.value


def test_rar_is_held_for_a_restricted_contact_only(core: tuple[Index, Policy]) -> None:
    """An archive we cannot open is unscannable: held to the restricted contact only."""
    msg = with_attachment("files.rar", b"Rar!\x1a\x07\x00" + bytes(64), "octet-stream")
    held = run(core, msg, rcpt=MARK)
    assert "quarantine" == held.verdict.action.value
    assert ["restricted-recipient-unscannable"] == held.verdict.rules
    assert "deliver" == run(core, msg).verdict.action.value


def test_shuffled_glyph_pdf_is_held(core: tuple[Index, Policy]) -> None:
    """A PDF drawing the address glyph by glyph in a shuffled order is still held."""
    b = _builders()
    lines = ["Tenancy", f"{STREET}", "Leeds LS6 3QT"]
    held = run(core, with_attachment("l.pdf", b.raw_pdf(b.glyph_ops(lines, seed=7)), "pdf"))
    assert "quarantine" == held.verdict.action.value
    twin = [line.replace("27", "29").replace("LS6 3QT", "LS1 1AA") for line in lines]
    kept = run(core, with_attachment("l.pdf", b.raw_pdf(b.glyph_ops(twin, seed=7)), "pdf"))
    assert "deliver" == kept.verdict.action.value
