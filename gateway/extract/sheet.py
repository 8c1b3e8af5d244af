"""XLSX worksheets -> text: sheet name, then one line per row with tab-separated cells.

Sheets are streamed with ``iterparse`` and cleared row by row, so a sheet with a
million rows costs little memory, and the time budget is checked as rows go by.
"""

from __future__ import annotations

import posixpath
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


def _cell(cell: Element, shared: list[str]) -> str:
    """Display text of one ``c`` element."""
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return _all_text(cell)
    value = next((e.text or "" for e in cell if local(e.tag) == "v"), "")
    if kind == "s":
        try:
            return shared[int(value)]
        except (ValueError, IndexError):
            return ""
    return value


def _rows(ctx: Context, data: bytes, shared: list[str]) -> Iterator[str]:
    """One tab-separated line per row, header/footer text as lines of its own."""
    cells: list[str] = []
    for count, (_, elem) in enumerate(SafeET.iterparse(BytesIO(data), events=("end",))):
        name = local(elem.tag)
        if name == "c":
            cells.append(_cell(elem, shared))
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
    present = set(zf.namelist())
    for title, path in _sheets(ctx, zf, location):
        if title:
            yield title
        if path not in present:
            continue
        data = member_bytes(ctx, zf, zf.getinfo(path), location)
        if data is not None:
            yield "\n".join(_rows(ctx, data, shared))
