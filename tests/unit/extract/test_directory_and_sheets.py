"""iCalendar/vCard text as a calendar shows it, and Excel numbers as Excel shows them."""

from __future__ import annotations

import datetime as dt
import io
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import extract
from gateway.extract.directory import directory_text
from gateway.extract.numfmt import format_number
from tests.unit.extract.builders import message, raw

PHONE = "07700 900461"
STREET = "27 Kingfisher Road"


def _fold(line: str, cuts: list[int], blank: str) -> str:
    """``line`` folded (CRLF + one space or tab) at the given offsets."""
    pieces, last = [], 0
    for cut in sorted({c for c in cuts if 0 < c < len(line)}):
        pieces.append(line[last:cut])
        last = cut
    pieces.append(line[last:])
    return ("\r\n" + blank).join(pieces)


def _vcard(cuts: list[int], blank: str) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "FN:Sarah Whitmore",
        f"TEL;TYPE=cell,voice:{PHONE}",
        f"ADR;TYPE=home:;Flat 3;{STREET};Leeds;;LS6 3QT;UK",
        r"NOTE:Moved to Flat 3\, " + STREET + r"\nLeeds",
        "END:VCARD",
    ]
    return "\r\n".join(_fold(line, cuts, blank) for line in lines) + "\r\n"


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 60), max_size=6),
    blank=st.sampled_from([" ", "\t"]),
)
def test_a_vcard_folded_anywhere_reads_as_unfolded(cuts: list[int], blank: str) -> None:
    """Lines folded at any position (RFC 6350 3.2) are unfolded; escapes and structured
    parts are decoded, so the phone and the street line read whole."""
    text = directory_text(_vcard(cuts, blank))
    assert PHONE in text
    assert f"Flat 3, {STREET}, Leeds" in text
    assert f"Moved to Flat 3, {STREET}\nLeeds" in text


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(1, 40), max_size=4))
def test_an_icalendar_event_folded_anywhere_reads_as_unfolded(cuts: list[int]) -> None:
    """An iCalendar LOCATION and DESCRIPTION folded at random read whole (RFC 5545 3.1)."""
    lines = [
        "BEGIN:VCALENDAR",
        "BEGIN:VEVENT",
        r"LOCATION:" + STREET + r"\, Leeds LS6 3QT",
        r"DESCRIPTION:Call her on " + PHONE + r"\; ask for Sarah",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    text = directory_text("\n".join(_fold(line, cuts, " ") for line in lines))
    assert f"{STREET}, Leeds LS6 3QT" in text
    assert f"Call her on {PHONE}; ask for Sarah" in text


def test_quoted_printable_vcard_21_values_are_decoded() -> None:
    """vCard 2.1 QUOTED-PRINTABLE values, soft line breaks included, are decoded."""
    card = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        "ADR;HOME;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:;;27 Kingfisher=\r\n Road;Leeds\r\n"
        "TEL;CELL:07700=20900461\r\nEND:VCARD\r\n"
    )
    text = directory_text(card)
    assert f"{STREET}, Leeds" in text
    assert "07700=20900461" in text  # not QUOTED-PRINTABLE: left as it is


def test_text_that_is_not_a_calendar_or_card_is_left_alone() -> None:
    """Plain text gives no directory view, so nothing is scanned twice."""
    assert "" == directory_text("Dear all,\n see you at\n 3 pm")


def _segments(msg: EmailMessage) -> list[str]:
    return [s.text for s in extract(raw(msg)).segments]


def test_a_vcf_attachment_and_a_calendar_body_are_read_unfolded() -> None:
    """A .vcf attachment, a text/calendar body and a .txt holding a vCard are unfolded."""
    card = _vcard([9, 17], " ").encode()
    attached = message(attachments=[("contact.vcf", card, "application/octet-stream")])
    assert any(PHONE in t and STREET in t for t in _segments(attached))
    as_text = message(attachments=[("notes.txt", card, "text/plain")])
    assert any(PHONE in t for t in _segments(as_text))
    body = EmailMessage()
    body["Subject"] = "Visit"
    body.set_content("BEGIN:VCALENDAR\r\nLOCATION:27 Kingf\r\n isher Road\r\nEND:VCALENDAR\r\n")
    body.replace_header("Content-Type", "text/calendar; charset=utf-8")
    assert any(STREET in t for t in _segments(body))


# --- Excel number formats -------------------------------------------------------------


@st.composite
def grouped_phones(draw: st.DrawFn) -> tuple[str, str]:
    """A national number and a format that shows its digits grouped as written."""
    digits = "0" + draw(st.text("0123456789", min_size=10, max_size=10)).lstrip("0").rjust(10, "1")
    sizes, left = [], len(digits)
    while left:
        size = min(left, draw(st.integers(2, 6)))
        sizes.append(size)
        left -= size
    sep = draw(st.sampled_from([" ", "-", '" "', "\\ "]))
    groups, shown, at = [], [], 0
    for size in sizes:
        groups.append("0" * size)
        shown.append(digits[at : at + size])
        at += size
    code = sep.join(groups)
    if draw(st.booleans()):
        code = '"0"' + code[1:]  # the trunk zero as literal text
    return code, (sep.strip('"').replace("\\", "")).join(shown)


@settings(max_examples=200, deadline=None)
@given(case=grouped_phones())
def test_a_phone_kept_as_a_number_shows_as_its_format_groups_it(case: tuple[str, str]) -> None:
    """Zero padding, literal text and grouping put back the leading zero and spaces."""
    code, shown = case
    assert shown == format_number(float(shown.replace(" ", "").replace("-", "")), code)


_DATE_CODES = {
    "dd/mm/yyyy": "%d/%m/%Y",
    "d-mmm-yy": "%-d-%b-%y",
    "yyyy-mm-dd": "%Y-%m-%d",
    "d mmmm yyyy": "%-d %B %Y",
    "dddd, d mmmm yyyy": "%A, %-d %B %Y",
    "mm/dd/yy": "%m/%d/%y",
    "[$-809]dd mmm yyyy": "%d %b %Y",
    'dd"."mm"."yyyy': "%d.%m.%Y",
}


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(dt.date(1901, 3, 1), dt.date(2099, 12, 31)),
    code=st.sampled_from(sorted(_DATE_CODES)),
)
def test_a_date_serial_shows_through_its_date_format(day: dt.date, code: str) -> None:
    """A day count (1900 date system) shows as the date its format writes."""
    serial = (day - dt.date(1899, 12, 30)).days
    assert day.strftime(_DATE_CODES[code]) == format_number(float(serial), code)


def test_number_format_sections_grouping_and_conditions() -> None:
    """Sign sections, grouping and scaling commas, percent and conditions as Excel shows them."""
    assert "(5)" == format_number(-5.0, "0;(0)")
    assert "1,234,567.89" == format_number(1234567.891, "#,##0.00")
    assert "1,235" == format_number(1234567.0, "#,##0,")
    assert "25.6%" == format_number(0.256, "0.0%")
    assert "(792) 617-1947" == format_number(7926171947.0, "[<=9999999]###-####;(###) ###-####")
    assert format_number(3.5, "# ?/?") is None


def test_xlsx_number_cells_show_their_format_and_keep_the_stored_value() -> None:
    """A phone and a date stored as numbers read as Excel shows them, raw value beside."""
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append(["Mobile", 7700900461, dt.datetime(1988, 4, 17)])
    sheet["B1"].number_format = '"0"0000 000000'
    sheet["C1"].number_format = "dd/mm/yyyy"
    out = io.BytesIO()
    wb.save(out)
    msg = message(attachments=[("people.xlsx", out.getvalue(), "application/octet-stream")])
    text = "\n".join(_segments(msg))
    assert "Mobile\t07700 900461 [7700900461]\t17/04/1988 [1988-04-17]" in text
