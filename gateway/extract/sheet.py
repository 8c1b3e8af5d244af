"""XLSX worksheets -> text: sheet name, then one line per row with tab-separated cells.

Numbers are shown through their cell's number format, as Excel shows them (a phone
kept as a number with the format ``00000 000000``, a date kept as a day count), with
the stored value beside them.

Sheets are streamed with ``iterparse`` and cleared row by row, so a sheet with a
million rows costs little memory, and the time budget is checked as rows go by.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]

from gateway.extract.archive import member_bytes
from gateway.extract.context import Context
from gateway.extract.numfmt import format_code, format_number
from gateway.extract.xmltext import local, parse

_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_HEADERS = frozenset(
    ("oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter")
)


def _all_text(elem: Element) -> str:
    """Concatenated ``t`` descendants (rich text runs of one string)."""
    return "".join(e.text or "" for e in elem.iter() if local(e.tag) == "t")


def _shared_strings(ctx: Context, zf: zipfile.ZipFile, location: str) -> list[str]:
    """The shared string table, in index order."""
    if "xl/sharedStrings.xml" not in zf.namelist():
        return []
    data = member_bytes(ctx, zf, zf.getinfo("xl/sharedStrings.xml"), location)
    if data is None:
        return []
    return [_all_text(si) for si in parse(data) if local(si.tag) == "si"]


def _sheets(ctx: Context, zf: zipfile.ZipFile, location: str) -> list[tuple[str, str]]:
    """(sheet name, member path) in workbook order, plus worksheets it does not list."""
    names = set(zf.namelist())
    targets: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in names:
        rels = member_bytes(ctx, zf, zf.getinfo("xl/_rels/workbook.xml.rels"), location)
        for rel in parse(rels) if rels else ():
            target = rel.get("Target", "")
            path = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join("xl", target))
            )
            targets[rel.get("Id", "")] = path
    found: list[tuple[str, str]] = []
    workbook = member_bytes(ctx, zf, zf.getinfo("xl/workbook.xml"), location)
    for elem in parse(workbook).iter() if workbook else ():
        if local(elem.tag) == "sheet":
            found.append((elem.get("name", ""), targets.get(elem.get(_REL_ID, ""), "")))
    listed = {path for _, path in found}
    found += [
        ("", n)
        for n in sorted(names)
        if n.startswith("xl/worksheets/sheet") and n.endswith(".xml") and n not in listed
    ]
    return found


def _formats(ctx: Context, zf: zipfile.ZipFile, location: str) -> list[str]:
    """The number format code of each cell style, by style index (``s``)."""
    if "xl/styles.xml" not in zf.namelist():
        return []
    data = member_bytes(ctx, zf, zf.getinfo("xl/styles.xml"), location)
    if data is None:
        return []
    root = parse(data)
    custom = {
        _int(e.get("numFmtId")): e.get("formatCode", "")
        for e in root.iter()
        if local(e.tag) == "numFmt"
    }
    xfs = next((e for e in root if local(e.tag) == "cellXfs"), None)
    ids = [] if xfs is None else [_int(x.get("numFmtId")) for x in xfs]
    return [format_code(i, custom) for i in ids]


def _date1904(ctx: Context, zf: zipfile.ZipFile, location: str) -> bool:
    """Whether the workbook counts days from 1904 (old Mac workbooks)."""
    workbook = member_bytes(ctx, zf, zf.getinfo("xl/workbook.xml"), location)
    for elem in parse(workbook).iter() if workbook else ():
        if local(elem.tag) == "workbookPr":
            return elem.get("date1904", "").lower() in ("1", "true")
    return False


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class _Styles:
    """What a worksheet's numbers need to be shown: each style's format code."""

    formats: list[str]
    date1904: bool = False


def _shown(value: str, code: str, date1904: bool) -> str:
    """A number cell as Excel shows it, with the stored value after it in brackets
    when that differs (a date's stored value given as an ISO date)."""
    try:
        number = float(value)
    except ValueError:
        return value
    shown = format_number(number, code, date1904)
    if shown is None or shown == value:
        return value
    iso = format_number(number, "yyyy-mm-dd", date1904) if _looks_like_date(code) else None
    return f"{shown} [{iso or value}]"


def _looks_like_date(code: str) -> bool:
    unquoted = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code).lower()
    return "y" in unquoted or "d" in unquoted


def _cell(cell: Element, shared: list[str], styles: _Styles | None = None) -> str:
    """Display text of one ``c`` element; numbers through their number format."""
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return _all_text(cell)
    value = next((e.text or "" for e in cell if local(e.tag) == "v"), "")
    if kind == "s":
        try:
            return shared[int(value)]
        except (ValueError, IndexError):
            return ""
    if kind == "n" and value and styles is not None:
        style = _int(cell.get("s"))
        if style < len(styles.formats):
            return _shown(value, styles.formats[style], styles.date1904)
    return value


def _rows(ctx: Context, data: bytes, shared: list[str], styles: _Styles) -> Iterator[str]:
    """One tab-separated line per row, header/footer text as lines of its own."""
    cells: list[str] = []
    for count, (_, elem) in enumerate(SafeET.iterparse(BytesIO(data), events=("end",))):
        name = local(elem.tag)
        if name == "c":
            cells.append(_cell(elem, shared, styles))
        elif name == "row":
            if any(cells):
                yield "\t".join(cells)
            cells = []
            elem.clear()
        elif name in _HEADERS and elem.text:
            yield elem.text
        if count % 4096 == 0:
            ctx.check_time()


def sheet_text(ctx: Context, zf: zipfile.ZipFile, location: str) -> Iterator[str]:
    """Text of every worksheet in the workbook, each headed by its name."""
    shared = _shared_strings(ctx, zf, location)
    styles = _Styles(_formats(ctx, zf, location), _date1904(ctx, zf, location))
    present = set(zf.namelist())
    for title, path in _sheets(ctx, zf, location):
        if title:
            yield title
        if path not in present:
            continue
        data = member_bytes(ctx, zf, zf.getinfo(path), location)
        if data is not None:
            yield "\n".join(_rows(ctx, data, shared, styles))
