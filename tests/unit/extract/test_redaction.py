"""Failed redactions (``gateway.extract.redaction``): text a PDF viewer or Word does
not show although the file holds it becomes a ``hidden=redaction`` segment; what a
reader sees (boxes that cover nothing, searchable scans, ordinary documents) does not."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.lib.pagesizes import A4

from gateway.extract import extract, redaction
from gateway.extract.context import Blob, Context, Limits
from gateway.extract.office import read_docx
from gateway.extract.pdf import read_pdf
from gateway.segments import REDACTION, Segment
from tests.imagegen import Scan, fold, fold_ocr, render, scans
from tests.pdfgen import (
    HOWS,
    TOP,
    Hide,
    Page,
    Run,
    boxed,
    docx,
    docx_table,
    hides,
    marked,
    pages,
    report,
    scanned_pdf,
    searchable_scan,
    tesseract_pdf,
)
from tests.unit.extract.builders import message, raw

LINES = [
    "Dear Ms Fairbairn,",
    "Flat 3, 27 Kingfisher Road, Leeds LS6 3QT",
    "Your appointment is on Monday 4 March at 10:30.",
    "Yours sincerely, Housing Options Team",
]
REPO = Path(__file__).resolve().parents[3]
CORPORA = (REPO.parent / "shared" / "corpus", REPO / "tests" / "corpus")
PDF_MAILS = sorted(
    path
    for corpus in CORPORA
    for path in corpus.rglob("*.eml")
    if b"application/pdf" in path.read_bytes().lower()
)


def read(data: bytes, name: str = "report.pdf") -> Context:
    """The context after reading one PDF or DOCX attached as ``name``."""
    ctx = Context(Limits())
    reader = read_docx if name.endswith(".docx") else read_pdf
    reader(ctx, Blob(data, name, "", f"attachment:{name}", 0))
    return ctx


def hidden(segments: list[Segment] | tuple[Segment, ...]) -> list[tuple[str, str]]:
    """Location and folded text of every redaction segment."""
    return [(s.location, fold(s.text)) for s in segments if s.hidden == REDACTION]


@pytest.mark.parametrize("how", HOWS)
def test_each_way_of_hiding_an_address_is_a_redaction(how: str) -> None:
    """A black box over the address, white text, a clip, the crop box, invisible
    text: the address is a redaction segment at the page it is on."""
    ctx = read(report(LINES, Hide(line=1, how=how)))
    assert [("attachment:report.pdf#page=1", fold(LINES[1]))] == hidden(ctx.segments)


def test_the_page_text_still_holds_the_hidden_address() -> None:
    """The normal text segment stays as it was: it still reads the hidden line."""
    ctx = read(report(LINES, Hide(line=1, how="box")))
    plain = [s for s in ctx.segments if s.location == "attachment:report.pdf"]
    assert [""] == [s.hidden for s in plain]
    assert fold(LINES[1]) in fold(plain[0].text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hide=hides(), page=pages(), count=st.integers(1, 3), data=st.data())
def test_a_hidden_line_is_found_whatever_the_box_font_size_and_page(
    hide: Hide, page: Page, count: int, data: st.DataObject
) -> None:
    """Any way of hiding, box colour (black to white) and padding, font and size, on
    any page of several: exactly the hidden line, on its page, is a redaction."""
    on = data.draw(st.integers(1, count))
    ctx = read(report(LINES, hide, page, pages=count, hidden_page=on))
    assert [(f"attachment:report.pdf#page={on}", fold(LINES[hide.line]))] == hidden(ctx.segments)


@settings(max_examples=20, deadline=None)
@given(page=pages(), line=st.integers(0, 3), grey=st.sampled_from((0.0, 0.3, 0.6)))
def test_a_box_beside_visible_text_is_no_redaction(page: Page, line: int, grey: float) -> None:
    """The benign twin: a filled box drawn after a line, next to it (a decorative
    panel, a table cell), leaves every line visible: no redaction segment."""
    ctx = read(report(LINES, Hide(line=line, how="beside", grey=grey), page))
    assert [] == hidden(ctx.segments)


def test_a_plain_page_and_a_decorated_page_have_no_redaction() -> None:
    """Text alone, and text with a filled panel that covers none of it: nothing hidden."""
    assert [] == hidden(read(report(LINES)).segments)
    assert [] == hidden(read(report(LINES, page=Page(decoration=True))).segments)


@pytest.mark.parametrize("dpi", [150, 300])
def test_a_searchable_scan_is_no_redaction(dpi: int) -> None:
    """A scan with its OCR layer (invisible text over the picture that shows the
    same words) is what scanners write: no redaction segment."""
    assert [] == hidden(read(searchable_scan(LINES, dpi)).segments)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True)
@given(scan=scans(dpi=(200, 300)).map(lambda s: replace(s, page=True)))
def test_a_searchable_scan_made_by_tesseract_is_no_redaction(scan: Scan) -> None:
    """Tesseract's own searchable PDF (its words in invisible text, stretched over
    the picture, never quite where the ink is), of any scan: no redaction segment,
    and the picture is not read again."""
    ctx = read(tesseract_pdf(render(LINES, scan), scan.dpi))
    assert [] == hidden(ctx.segments)
    assert [] == [s for s in ctx.segments if s.reading]


@pytest.mark.slow
@pytest.mark.skipif(not PDF_MAILS, reason="corpus not present")
def test_no_pdf_of_the_corpora_has_a_redaction() -> None:
    """Every message of the shared and hostile corpora that carries a PDF: no
    redaction segment (the false-positive check)."""
    found = {path.name: hidden(extract(path.read_bytes()).segments) for path in PDF_MAILS}
    assert {} == {name: spans for name, spans in found.items() if spans}


def test_a_redaction_in_a_mail_attachment_is_found_through_extract() -> None:
    """End to end through ``extract``: the PDF attached to a message."""
    pdf = report(LINES, Hide(line=1))
    mail = raw(message(attachments=[("letter.pdf", pdf, "application/pdf")]))
    assert [("attachment:letter.pdf#page=1", fold(LINES[1]))] == hidden(extract(mail).segments)


# --- DOCX ---------------------------------------------------------------------------

ADDRESS = "Flat 3, 27 Kingfisher Road"


@pytest.mark.parametrize("how", ["highlight", "shading", "white", "vanish", "style"])
def test_a_docx_run_hidden_the_word_way_is_a_redaction(how: str) -> None:
    """Black highlight with black text, dark shading with dark text, white text,
    Word's hidden text, a character style with a black highlight: the run is a
    redaction segment at the document."""
    data = docx([[Run("Client lives at "), Run(ADDRESS, how)], [Run("Next visit Monday")]])
    ctx = read(data, "letter.docx")
    assert [("attachment:letter.docx", fold(ADDRESS))] == hidden(ctx.segments)


@pytest.mark.parametrize("colour", ["FFFFFF", "auto"])
def test_a_docx_dark_highlight_with_light_text_is_no_redaction(colour: str) -> None:
    """The benign twin: white text, or Word's automatic colour (which Word turns
    white), on a black highlight is shown: no redaction."""
    data = docx([[Run("Heading "), Run(ADDRESS, "readable", colour)]])
    assert [] == hidden(read(data, "letter.docx").segments)


@settings(max_examples=25, deadline=None)
@given(
    text=st.sampled_from(["000000", "1A1A1A", "202040"]),
    shade=st.sampled_from(["000000", "101010", "2B2B2B", "1F1F3F"]),
)
def test_dark_text_on_any_dark_shading_is_a_redaction(text: str, shade: str) -> None:
    """Text and shading both dark (a contrast under 1.5:1) is a redaction."""
    data = docx([[Run("See "), Run(ADDRESS, "shading", shade, text)]])
    assert [("attachment:letter.docx", fold(ADDRESS))] == hidden(read(data, "letter.docx").segments)


@settings(max_examples=15, deadline=None)
@given(
    shade=st.sampled_from(["000000", "202020", "00007F"]),
    text=st.sampled_from(["FFFFFF", "FFFF00", "C0C0C0"]),
)
def test_light_text_on_dark_shading_is_no_redaction(shade: str, text: str) -> None:
    """The benign twin: a contrasting colour on dark shading is shown."""
    data = docx([[Run("See "), Run(ADDRESS, "shading", shade, text)]])
    assert [] == hidden(read(data, "letter.docx").segments)


def test_an_ordinary_docx_has_no_redaction() -> None:
    """Plain runs, bold, coloured headings: nothing hidden."""
    data = docx([[Run("Dear Ms Fairbairn,")], [Run(ADDRESS)], [Run("Regards")]])
    assert [] == hidden(read(data, "letter.docx").segments)


@settings(max_examples=20, deadline=None)
@given(page=pages())
def test_the_pixel_check_finds_nothing_hidden_in_visible_text(page: Page) -> None:
    """The check itself, run without the survey's gate on a page of visible text in
    any built-in font at 8-16 pt: every glyph shows, nothing is hidden."""
    document = pdfium.PdfDocument(report(LINES, page=page))
    try:
        textpage = document[0].get_textpage()
        assert [] == redaction.hidden_text(document[0], textpage, time.monotonic() + 60)
    finally:
        document.close()


def test_ordinary_pages_are_not_rendered_for_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost gate: text alone, and text on a panel drawn before it in another
    colour, are never rendered; a box drawn over text, or text on a box of its own
    colour, is."""
    calls: list[int] = []
    check = redaction.hidden_text
    monkeypatch.setattr(redaction, "hidden_text", lambda *a: calls.append(1) or check(*a))
    read(report(LINES, pages=3))
    read(report(LINES, page=Page(panel=0.85)))  # black text on a light panel
    assert [] == calls
    read(report(LINES, Hide(how="box")))
    read(report(LINES, Hide(how="under", grey=0.3)))
    assert [1, 1] == calls


def test_dark_text_in_a_dark_table_cell_is_a_redaction() -> None:
    """A table cell shaded black with black text in it hides the text; the cell next
    to it, shaded black with white text, and a plain cell do not."""
    data = docx_table(
        [(ADDRESS, "000000", "000000"), ("Case 0417", "000000", "FFFFFF"), ("Notes", "", "")]
    )
    assert [("attachment:letter.docx", fold(ADDRESS))] == hidden(read(data, "letter.docx").segments)


#: Word's highlight colours (``WD_COLOR_INDEX`` names) and how Word draws them
HIGHLIGHTS = {
    "BLACK": "000000",
    "BLUE": "0000FF",
    "BRIGHT_GREEN": "00FF00",
    "DARK_BLUE": "000080",
    "DARK_RED": "800000",
    "DARK_YELLOW": "808000",
    "GRAY_25": "C0C0C0",
    "GRAY_50": "808080",
    "GREEN": "008000",
    "PINK": "FF00FF",
    "RED": "FF0000",
    "TEAL": "008080",
    "TURQUOISE": "00FFFF",
    "VIOLET": "800080",
    "WHITE": "FFFFFF",
    "YELLOW": "FFFF00",
}


@settings(max_examples=16, deadline=None)
@given(mark=st.sampled_from(sorted(HIGHLIGHTS)))
def test_text_in_its_highlight_colour_is_a_redaction(mark: str) -> None:
    """Any highlight with the text in the highlight's own colour hides the text."""
    data = docx([[Run("See "), Run(ADDRESS, "highlight", HIGHLIGHTS[mark], mark=mark)]])
    assert [("attachment:letter.docx", fold(ADDRESS))] == hidden(read(data, "letter.docx").segments)


@settings(max_examples=10, deadline=None)
@given(mark=st.sampled_from(["YELLOW", "BRIGHT_GREEN", "TURQUOISE", "GRAY_25", "WHITE", "RED"]))
def test_black_text_on_a_light_highlight_is_no_redaction(mark: str) -> None:
    """The benign twin: black text on the highlights people mark text with is shown."""
    data = docx([[Run("See "), Run(ADDRESS, "highlight", "000000", mark=mark)]])
    assert [] == hidden(read(data, "letter.docx").segments)


@pytest.mark.slow
def test_a_box_drawn_over_a_searchable_scan_is_a_redaction() -> None:
    """A black box drawn over the picture of a searchable scan hides the words under
    it from a viewer, and the scanner's text layer still holds them: a redaction."""
    scan = tesseract_pdf(render(LINES, Scan(page=True, at=(0.1, 0.1))), 200)
    ctx = read(boxed(scan, (0, 560, A4[0], 230)))
    found = "".join(text for _, text in hidden(ctx.segments))
    assert fold_ocr("Kingfisher Road") in fold_ocr(found)


@pytest.mark.slow
@pytest.mark.parametrize("grey", [0.0, 1.0])
def test_a_box_drawn_over_a_scanned_page_is_a_redaction(grey: float) -> None:
    """A black box (or white-out) drawn over a scan without a text layer: the
    picture under it still holds the address, read by OCR as a redaction."""
    scan = scanned_pdf([render(LINES, Scan(page=True, at=(0.1, 0.1)))])
    ctx = read(boxed(scan, (0, 560, A4[0], 230), grey))
    found = [s for s in ctx.segments if s.hidden == REDACTION]
    assert ["ocr"] == [s.reading for s in found]
    assert fold_ocr("Kingfisher Road") in fold_ocr(found[0].text)


@pytest.mark.slow
def test_a_box_over_a_blank_part_of_a_scan_is_no_redaction() -> None:
    """The benign twin: a box over the empty bottom of the scan hides nothing."""
    scan = scanned_pdf([render(LINES, Scan(page=True, at=(0.1, 0.1)))])
    assert [] == hidden(read(boxed(scan, (0, 60, A4[0], 100))).segments)


def test_text_marked_for_redaction_and_never_redacted_is_a_redaction() -> None:
    """A redaction annotation over the address line (marked, never applied): the
    text under it, and only that, is a redaction segment, whether or not it shows."""
    pdf = report(LINES)
    # the address line's baseline is TOP - 1.5 * 11 points
    ctx = read(marked(pdf, (60, TOP - 16.5 - 5, 400, 14)))
    assert [("attachment:report.pdf#page=1", fold(LINES[1]))] == hidden(ctx.segments)


def test_an_ordinary_docx_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DOCX cost gate: a document with nothing that could hide a run (no hidden
    text, highlight, shading or light colour, no style that hides) is not read a
    second time; one with a highlight is."""
    calls: list[int] = []
    runs = redaction._hidden_runs
    monkeypatch.setattr(redaction, "_hidden_runs", lambda *a: calls.append(1) or runs(*a))
    read(docx([[Run("Dear Ms Fairbairn,")], [Run(ADDRESS)]]), "letter.docx")
    assert [] == calls
    read(docx([[Run(ADDRESS, "readable")]]), "letter.docx")
    assert [1] == calls
