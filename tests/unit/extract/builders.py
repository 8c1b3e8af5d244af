"""Builders of real messages and documents for the extract tests (no files on disk)."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.policy import SMTP

MARKER = "27 Kingfisher Road"


def message(
    body: str = "Hello",
    subject: str = "Test",
    attachments: list[tuple[str, bytes, str]] | None = None,
    html: str | None = None,
) -> EmailMessage:
    """A message with a text body, an optional HTML alternative and attachments."""
    msg = EmailMessage()
    msg["From"] = "Case Worker <worker@council.example>"
    msg["To"] = "Someone <someone@example.org>"
    msg["Subject"] = subject
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, data, ctype in attachments or []:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def raw(msg: EmailMessage) -> bytes:
    """Wire bytes of ``msg`` with CRLF line endings."""
    return msg.as_bytes(policy=SMTP)


def pdf(
    page1: str = MARKER,
    page2: str = "Second page text",
    field_value: str = "",
    annotation: str = "",
) -> bytes:
    """A two-page PDF, optionally with a filled form field and a text annotation."""
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.drawString(72, 720, page1)
    if field_value:
        c.acroForm.textfield(name="address", value=field_value, x=72, y=600, width=300)
    if annotation:
        c.textAnnotation(annotation, Rect=(72, 500, 200, 550))
    c.showPage()
    c.drawString(72, 720, page2)
    c.showPage()
    c.setTitle("Assessment report")
    c.setAuthor("Jane Author")
    c.save()
    return out.getvalue()


def encrypted_pdf(text: str = MARKER) -> bytes:
    """A PDF that needs a user password to open."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(text))))
    writer.encrypt(
        user_password="secret",  # noqa: S106 - a test fixture, not a credential
        owner_password="owner",  # noqa: S106 - a test fixture, not a credential
        algorithm="RC4-128",
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def rezip(data: bytes, replace: dict[str, bytes]) -> bytes:
    """A copy of zip ``data`` with some members replaced or added."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            if info.filename not in replace:
                dst.writestr(info, src.read(info))
        for name, content in replace.items():
            dst.writestr(name, content)
    return out.getvalue()


_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_TRACKED = (
    "<w:t>kept</w:t></w:r>"
    '<w:ins w:id="1" w:author="a" w:date="2024-01-01T00:00:00Z"><w:r>'
    "<w:t>Inserted Flat 3</w:t></w:r></w:ins>"
    '<w:del w:id="2" w:author="a" w:date="2024-01-01T00:00:00Z"><w:r>'
    "<w:delText>Deleted SW1A 1AA</w:delText></w:r></w:del><w:r><w:t>end</w:t>"
)


def docx() -> bytes:
    """A DOCX with body, table, header, footer, properties, comments, notes, changes."""
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph("Body paragraph")
    document.add_paragraph("PLACEHOLDER")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "27"
    table.cell(0, 1).text = "Kingfisher Road"
    section = document.sections[0]
    section.header.paragraphs[0].text = "Header Kestrel"
    section.footer.paragraphs[0].text = "Footer Heron"
    props = document.core_properties
    props.title, props.author, props.subject = "Title Wren", "Author Finch", "Subject Lark"
    props.keywords, props.comments = "Keyword Robin", "Comment Swift"
    out = io.BytesIO()
    document.save(out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zf:
        body = zf.read("word/document.xml").decode()
    body = body.replace("<w:t>PLACEHOLDER</w:t>", _TRACKED)
    return rezip(
        out.getvalue(),
        {
            "word/document.xml": body.encode(),
            "word/comments.xml": f'<w:comments {_W}><w:comment w:id="0"><w:p><w:r>'
            "<w:t>Reviewer Magpie</w:t></w:r></w:p></w:comment></w:comments>".encode(),
            "word/footnotes.xml": f'<w:footnotes {_W}><w:footnote w:id="1"><w:p><w:r>'
            "<w:t>Footnote Plover</w:t></w:r></w:p></w:footnote></w:footnotes>".encode(),
        },
    )


def xlsx() -> bytes:
    """A workbook with two sheets and a cell comment."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment

    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "Contacts"
    first.append(["27", "Kingfisher Road"])
    first["C1"].comment = Comment("Comment Curlew", "author")
    second = wb.create_sheet("Visits")
    second.append(["Inline", 42])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def pptx() -> bytes:
    """A presentation with one slide and speaker notes."""
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    title = slide.shapes.title
    assert title is not None
    title.text = MARKER
    slide.notes_slide.notes_text_frame.text = "Notes Dunlin"  # type: ignore[union-attr]
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def odt() -> bytes:
    """An OpenDocument text file with one paragraph."""
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    document.text.addElement(P(text=MARKER))
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive holding ``members``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def encrypt_flag(data: bytes) -> bytes:
    """Set the 'encrypted' flag bit on every entry of a zip (local and central headers)."""
    buf = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = buf.find(signature)
        while start != -1:
            buf[start + offset] |= 0x1
            start = buf.find(signature, start + 4)
    return bytes(buf)
