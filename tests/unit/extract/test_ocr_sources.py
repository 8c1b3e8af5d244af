"""Where images come from: attachments in every format, pictures inside Office files,
``data:`` URLs in HTML mail and inline (``cid:``) parts, each read by OCR at its own
location through ``extract``; and a scanned address held by ``gateway scan``."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import pytest
from builders import odt, raw, rezip
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.envelope import Envelope
from gateway.extract import extract
from gateway.match import Index, build_index
from gateway.policy import default_policy_dir, load_policy
from gateway.register import load_register
from gateway.scan import ScanSettings, scan
from gateway.segments import OCR, Extraction
from tests.imagegen import (
    FORMATS,
    Scan,
    animated_gif,
    encode,
    fold_ocr,
    multipage_tiff,
    render,
    scans,
)

EXAMPLE = (
    Path(__file__).resolve().parents[3].parent / "shared" / "contracts" / "register.example.yaml"
)
LINES = ["Her new address:", "27 Heron Close, Leeds LS6 2NH"]
DETAIL = "27 Heron Close"
PICTURE = encode(render(LINES, Scan(pt=12)), "PNG")


def ocr_texts(result: Extraction) -> dict[str, str]:
    """OCR text by location, folded as the matcher compares OCR text."""
    return {s.location: fold_ocr(s.text) for s in result.segments if s.reading == OCR}


def holds(result: Extraction, location: str, detail: str = DETAIL) -> bool:
    """Whether OCR read ``detail`` at ``location``."""
    return fold_ocr(detail) in ocr_texts(result).get(location, "")


def with_attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> bytes:
    msg = EmailMessage()
    msg["From"] = "worker@council.example"
    msg["To"] = "someone@example.org"
    msg["Subject"] = "letter"
    msg.set_content("Please see the attached.")
    maintype, _, subtype = ctype.partition("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return raw(msg)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from(FORMATS), st.sampled_from(["image/*", "application/octet-stream"]))
def test_every_image_format_attached_is_read(fmt: str, declared: str) -> None:
    """A PNG, JPEG, TIFF, GIF, BMP or WebP attachment, declared as an image or not,
    gives an OCR segment at ``attachment:<name>``."""
    ctype = f"image/{fmt.lower()}" if declared == "image/*" else declared
    name = f"scan.{fmt.lower()}"
    result = extract(with_attachment(name, encode(render(LINES, Scan(pt=12)), fmt), ctype))
    assert holds(result, f"attachment:{name}")
    assert () == result.unreadable


def test_a_multipage_tiff_is_read_page_by_page() -> None:
    """Page 2 of a scanned letter is ``attachment:letter.tiff#page=2``."""
    pages = [render(["Page one of the letter"]), render(LINES)]
    result = extract(with_attachment("letter.tiff", multipage_tiff(pages), "image/tiff"))
    assert holds(result, "attachment:letter.tiff#page=2")


def test_an_animated_gif_is_read_frame_by_frame() -> None:
    """Each frame of a GIF is read; later frames at ``#page=N``."""
    frames = [render(["Season's greetings"]), render(LINES)]
    result = extract(with_attachment("card.gif", animated_gif(frames), "image/gif"))
    assert holds(result, "attachment:card.gif#page=2")


@settings(max_examples=6, deadline=None, derandomize=True)
@given(scans(dpi=(200, 300), pt=(11.0, 14.0)).map(lambda s: Scan(s.font, s.pt, s.dpi, s.angle)))
def test_a_scan_pasted_into_a_docx_is_read(scan: Scan) -> None:
    """A DOCX with a pasted scan: ``attachment:letter.docx/image1.png``."""
    import docx

    document = docx.Document()
    document.add_paragraph("Please find the scanned letter below.")
    document.add_picture(io.BytesIO(encode(render(LINES, scan), "PNG")))
    out = io.BytesIO()
    document.save(out)
    ctype = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    result = extract(with_attachment("letter.docx", out.getvalue(), ctype))
    assert holds(result, "attachment:letter.docx/image1.png")
    assert () == result.unreadable


def test_a_picture_in_a_workbook_is_read() -> None:
    """An image placed on a sheet (``xl/media/``) is read."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image as SheetImage

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "visit log"
    sheet.add_image(SheetImage(io.BytesIO(PICTURE)), "B2")
    out = io.BytesIO()
    book.save(out)
    result = extract(with_attachment("log.xlsx", out.getvalue()))
    assert holds(result, "attachment:log.xlsx/image1.png")


def test_a_picture_on_a_slide_is_read() -> None:
    """An image on a slide (``ppt/media/``) is read."""
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_picture(io.BytesIO(PICTURE), 0, 0)
    out = io.BytesIO()
    deck.save(out)
    result = extract(with_attachment("deck.pptx", out.getvalue()))
    assert holds(result, "attachment:deck.pptx/image1.png")


def test_a_picture_in_an_opendocument_is_read() -> None:
    """An image in an ODT's ``Pictures/`` folder is read under the document."""
    document = rezip(odt(), {"Pictures/10000000000001.png": PICTURE})
    result = extract(with_attachment("letter.odt", document))
    assert holds(result, "attachment:letter.odt/10000000000001.png")


def test_other_media_in_a_document_is_left_alone() -> None:
    """An EMF or a sound in ``word/media`` is neither read nor unscannable."""
    import docx

    document = docx.Document()
    document.add_paragraph("Text")
    out = io.BytesIO()
    document.save(out)
    data = rezip(
        out.getvalue(),
        {"word/media/image1.emf": b"\x01\x00\x00\x00" + bytes(200), "word/media/a.wav": b"RIFF"},
    )
    result = extract(with_attachment("letter.docx", data))
    assert ((), {}) == (result.unreadable, ocr_texts(result))


def test_a_data_url_in_html_mail_is_read() -> None:
    """``<img src="data:image/png;base64,...">`` in the HTML body: ``body/image1.png``."""
    import base64

    encoded = base64.encodebytes(PICTURE).decode()  # wrapped lines, as mailers send it
    html = (
        f'<p>Her address is in the picture:</p><img alt="" src="data:image/png;base64,{encoded}">'
    )
    msg = EmailMessage()
    msg["Subject"] = "address"
    msg.set_content("see the HTML part")
    msg.add_alternative(html, subtype="html")
    result = extract(raw(msg))
    assert holds(result, "body/image1.png")
    assert () == result.unreadable


def test_a_data_url_in_an_html_attachment_is_read() -> None:
    """A saved web page or HTML letter attached to the mail: its ``data:`` pictures are
    read at ``attachment:letter.html/image1.png``."""
    import base64

    encoded = base64.b64encode(PICTURE).decode()
    page = f'<html><body><p>Letter</p><img src="data:image/png;base64,{encoded}"></body></html>'
    result = extract(with_attachment("letter.html", page.encode(), "text/html"))
    assert holds(result, "attachment:letter.html/image1.png")
    assert () == result.unreadable


def test_an_inline_cid_part_is_read_once() -> None:
    """A picture sent as a ``multipart/related`` part (``<img src="cid:...">``) is read
    once, as the MIME part it is."""
    msg = EmailMessage()
    msg["Subject"] = "address"
    msg.set_content("see the HTML part")
    msg.add_alternative('<p>See:</p><img src="cid:scan1@council.example">', subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    html_part.add_related(PICTURE, "image", "png", cid="<scan1@council.example>")
    result = extract(raw(msg))
    found = [loc for loc, text in ocr_texts(result).items() if fold_ocr(DETAIL) in text]
    assert 1 == len(found)
    assert found[0].startswith("attachment:")


@pytest.fixture(scope="module")
def example() -> Index:
    return build_index(load_register(EXAMPLE).cases)


def _scan(index: Index, picture: bytes, rcpt: str) -> str:
    msg = EmailMessage()
    msg["From"] = "officer@council.example.gov.uk"
    msg["To"] = rcpt
    msg["Subject"] = "letter"
    msg.set_content("Please see the attached letter.")
    msg.add_attachment(picture, maintype="image", subtype="jpeg", filename="letter.jpg")
    envelope = Envelope("officer@council.example.gov.uk", (rcpt,), raw(msg))
    settings = ScanSettings(internal_domains=("council.example.gov.uk",))
    return scan(envelope, index, load_policy(default_policy_dir()), settings).verdict.action.value


@pytest.mark.parametrize("rcpt", ["mark.whitmore@example.com", "landlord@lettings.example"])
def test_a_scanned_letter_with_a_safe_address_is_held(example: Index, rcpt: str) -> None:
    """A photographed letter carrying Sarah's safe address (the example register),
    askew and JPEG'd, is held going to her restricted contact or to an outsider."""
    lines = [
        "Dear Mr Whitmore,",
        "Sarah now lives at",
        "Flat 3, 27 Kingfisher Road,",
        "Leeds LS6 3QT",
    ]
    picture = encode(render(lines, Scan(angle=2.5, jpeg=50, dpi=200)), "JPEG", quality=70)
    assert "quarantine" == _scan(example, picture, rcpt)


def test_a_scanned_letter_about_someone_else_is_delivered(example: Index) -> None:
    """The benign twin: the same letter with another person's address is delivered."""
    lines = ["Dear Mr Whitmore,", "The office is at", "4 Market Street,", "Bradford BD1 1AA"]
    picture = encode(render(lines, Scan(angle=2.5, jpeg=50, dpi=200)), "JPEG", quality=70)
    assert "deliver" == _scan(example, picture, "mark.whitmore@example.com")


@pytest.mark.parametrize(("fmt", "name"), [("JPEG2000", "scan.jp2"), ("AVIF", "photo.avif")])
def test_jpeg2000_and_avif_are_read(fmt: str, name: str) -> None:
    """Formats scanners and phones also write, which Pillow decodes."""
    result = extract(with_attachment(name, encode(render(LINES, Scan(pt=12)), fmt)))
    assert holds(result, f"attachment:{name}")


@given(st.sampled_from([b"heic", b"heix", b"mif1"]), st.binary(min_size=200, max_size=400))
@settings(max_examples=10, deadline=None)
def test_a_heic_photo_is_unscannable_not_media(brand: bytes, rest: bytes) -> None:
    """A HEIF/HEIC photo (an iPhone's camera) cannot be decoded here: it is
    unscannable, so the default policy holds it for a restricted contact."""
    heic = (24).to_bytes(4, "big") + b"ftyp" + brand + bytes(4) + b"mif1heic" + rest
    result = extract(with_attachment("IMG_0001.HEIC", heic, "image/heic"))
    assert [("attachment:IMG_0001.HEIC", "image format not read")] == [
        (u.location, u.reason) for u in result.unreadable
    ]
