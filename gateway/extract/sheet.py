"""XLSX worksheets -> text: sheet name, then one line per row with tab-separated cells.

Sheets are streamed with ``iterparse`` and cleared row by row, so a sheet with a
million rows costs little memory, and the time budget is checked as rows go by.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
from collections.abc import Iterator
from io import BytesIO
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]

from gateway.extract.archive import member_bytes
from gateway.extract.context import Context
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


# Built-in number formats that show a date (ECMA-376 18.8.30).
_DATE_FORMATS = frozenset({14, 15, 16, 17, 22, 27, 30, 36, 45, 46, 47, 50, 57})
_EPOCH = dt.date(1899, 12, 30)  # Excel's day 0 in the 1900 date system


def _date_styles(ctx: Context, zf: zipfile.ZipFile, location: str) -> frozenset[int]:
    """Indexes of the cell styles whose number format shows a date."""
    if "xl/styles.xml" not in zf.namelist():
        return frozenset()
    data = member_bytes(ctx, zf, zf.getinfo("xl/styles.xml"), location)
    if data is None:
        return frozenset()
    root = parse(data)
    custom = {
        int(e.get("numFmtId", "0")): e.get("formatCode", "")
        for e in root.iter()
        if local(e.tag) == "numFmt"
    }
    dated = {i for i, code in custom.items() if _looks_like_date(code)} | _DATE_FORMATS
    xfs = next((e for e in root if local(e.tag) == "cellXfs"), None)
    styles = [] if xfs is None else [int(x.get("numFmtId", "0")) for x in xfs]
    return frozenset(i for i, fmt in enumerate(styles) if fmt in dated)


def _looks_like_date(code: str) -> bool:
    unquoted = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code).lower()
    return "y" in unquoted and ("d" in unquoted or "m" in unquoted)


def _serial_date(value: str) -> str:
    """An Excel day number as an ISO date; the number itself when it is not one."""
    try:
        return (_EPOCH + dt.timedelta(days=int(float(value)))).isoformat()
    except (ValueError, OverflowError):
        return value


def _cell(cell: Element, shared: list[str], dates: frozenset[int] = frozenset()) -> str:
    """Display text of one ``c`` element; date-formatted numbers as ISO dates."""
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return _all_text(cell)
    value = next((e.text or "" for e in cell if local(e.tag) == "v"), "")
    if kind == "s":
        try:
            return shared[int(value)]
        except (ValueError, IndexError):
            return ""
    if kind == "n" and value and dates and int(cell.get("s", "0") or 0) in dates:
        return _serial_date(value)
    return value


def _rows(
    ctx: Context,
    data: bytes,
    shared: list[str],
    dates: frozenset[int],
) -> Iterator[str]:
    """One tab-separated line per row, header/footer text as lines of its own."""
    cells: list[str] = []
    for count, (_, elem) in enumerate(SafeET.iterparse(BytesIO(data), events=("end",))):
        name = local(elem.tag)
        if name == "c":
            cells.append(_cell(elem, shared, dates))
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
    dates = _date_styles(ctx, zf, location)
    present = set(zf.namelist())
    for title, path in _sheets(ctx, zf, location):
        if title:
            yield title
        if path not in present:
            continue
        data = member_bytes(ctx, zf, zf.getinfo(path), location)
        if data is not None:
            yield "\n".join(_rows(ctx, data, shared, dates))
