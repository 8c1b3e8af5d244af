"""Office documents (docx, xlsx, pptx, odt/ods/odp) -> one segment per file.

The zip container is opened directly and the XML parts read with defusedxml: this is
more complete than the document libraries (tracked deletions, comments, text boxes,
notes) and never expands entities. Member reads go through the archive limits.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator

from gateway.extract import ocr, redaction
from gateway.extract.archive import member_bytes, open_zip
from gateway.extract.context import ENCRYPTED, TOO_DEEP, Blob, Context
from gateway.extract.sheet import sheet_text
from gateway.extract.xmltext import Flattening, xml_to_text

_DOCX = Flattening(
    text_tags=frozenset(("t", "delText")),
    breaks=frozenset(("p", "tr", "br", "cr")),
    tabs=frozenset(("tab", "tc")),
    spaces=frozenset(("ins", "del", "moveFrom", "moveTo")),
)
_DRAWING = Flattening(
    text_tags=frozenset(("t", "text")),
    breaks=frozenset(("p", "tr", "cm", "comment")),
    tabs=frozenset(("tc",)),
)
_ODF = Flattening(
    breaks=frozenset(("p", "h", "table-row", "list-item", "line-break", "note-body")),
    tabs=frozenset(("tab", "table-cell")),
    spaces=frozenset(("s",)),
)
_PROPS = Flattening()  # metadata: every value on its own line
_DOCX_PART = re.compile(
    r"word/(document|header\d*|footer\d*|footnotes|endnotes|comments\w*|glossary/document)\.xml"
)
_NUMBER = re.compile(r"(\d+)")
_PROPERTY_PARTS = ("docProps/core.xml", "docProps/app.xml", "docProps/custom.xml")
#: where pictures pasted into a document live (a scan in a letter, a photo of a form)
_MEDIA = ("word/media/", "xl/media/", "ppt/media/", "Pictures/")
_PICTURE = re.compile(r"\.(png|jpe?g|jfif|gif|bmp|dib|tiff?|webp)", re.IGNORECASE)


def _natural(name: str) -> list[object]:
    """Sort key that puts slide2 before slide10."""
    return [int(p) if p.isdigit() else p for p in _NUMBER.split(name)]


def _texts(
    ctx: Context, zf: zipfile.ZipFile, names: Iterable[str], how: Flattening, location: str
) -> Iterator[str]:
    """Flattened text of each named XML member that exists and passes the limits."""
    present = set(zf.namelist())
    for name in names:
        if name not in present:
            continue
        data = member_bytes(ctx, zf, zf.getinfo(name), location)
        if data is not None:
            yield xml_to_text(data, how)


def _embedded(ctx: Context, zf: zipfile.ZipFile, blob: Blob) -> None:
    """Documents embedded in an Office file (``*/embeddings/*``), one level down."""
    for name in sorted(n for n in zf.namelist() if "/embeddings/" in n):
        location = f"{blob.location}/{name.rpartition('/')[2]}"
        if blob.depth + 1 > ctx.limits.max_depth:
            ctx.fail(location, TOO_DEEP)
            continue
        data = member_bytes(ctx, zf, zf.getinfo(name), location)
        if data is not None:
            ctx.read_blob(
                ctx,
                Blob(
                    data,
                    name.rpartition("/")[2],
                    "application/octet-stream",
                    location,
                    blob.depth + 1,
                ),
            )


def _pictures(ctx: Context, zf: zipfile.ZipFile, blob: Blob) -> None:
    """Pictures of a document read by OCR, each at ``<document>/<its file name>``.
    Other media (EMF, WMF, HD Photo, audio) hold no text OCR reads and are left alone."""
    names = (n for n in zf.namelist() if n.startswith(_MEDIA) and _PICTURE.search(n))
    for name in sorted(names, key=_natural):
        base = name.rpartition("/")[2]
        location = f"{blob.location}/{base}"
        data = member_bytes(ctx, zf, zf.getinfo(name), location)
        if data is not None and ocr.is_image(data[:64]):
            ctx.read_blob(ctx, Blob(data, base, "", location, blob.depth + 1))


def _emit(ctx: Context, blob: Blob, pieces: Iterable[str]) -> None:
    """One segment with all non-blank pieces of a document."""
    ctx.add(blob.location, "\n".join(p for p in pieces if p.strip()))


def read_docx(ctx: Context, blob: Blob) -> None:
    """Body, tables, headers, footers, notes, comments, tracked changes and properties."""
    with open_zip(blob.data) as zf:
        names = [n for n in zf.namelist() if _DOCX_PART.fullmatch(n)]
        names.sort(key=lambda n: (not n.startswith("word/document"), _natural(n)))
        pieces = list(_texts(ctx, zf, names, _DOCX, blob.location))
        pieces += _texts(ctx, zf, _PROPERTY_PARTS, _PROPS, blob.location)
        _emit(ctx, blob, pieces)
        redaction.read_docx_hidden(ctx, zf, blob.location)
        _embedded(ctx, zf, blob)
        _pictures(ctx, zf, blob)


def read_pptx(ctx: Context, blob: Blob) -> None:
    """Slides, notes, comments, diagrams and properties of a presentation."""
    with open_zip(blob.data) as zf:
        prefixes = ("ppt/slides/", "ppt/notesSlides/", "ppt/comments/", "ppt/diagrams/data")
        names = sorted(
            (n for n in zf.namelist() if n.startswith(prefixes) and n.endswith(".xml")),
            key=lambda n: (
                prefixes.index(next(p for p in prefixes if n.startswith(p))),
                _natural(n),
            ),
        )
        pieces = list(_texts(ctx, zf, names, _DRAWING, blob.location))
        pieces += _texts(ctx, zf, _PROPERTY_PARTS, _PROPS, blob.location)
        _emit(ctx, blob, pieces)
        _embedded(ctx, zf, blob)
        _pictures(ctx, zf, blob)


def read_xlsx(ctx: Context, blob: Blob) -> None:
    """Every sheet (name, cells by row), comments, drawings and properties."""
    with open_zip(blob.data) as zf:
        pieces = list(sheet_text(ctx, zf, blob.location))
        extras = sorted(
            (
                n
                for n in zf.namelist()
                if n.endswith(".xml")
                and n.startswith(("xl/comments", "xl/threadedComments/", "xl/drawings/drawing"))
            ),
            key=_natural,
        )
        pieces += _texts(ctx, zf, extras, _DRAWING, blob.location)
        pieces += _texts(ctx, zf, _PROPERTY_PARTS, _PROPS, blob.location)
        _emit(ctx, blob, pieces)
        _embedded(ctx, zf, blob)
        _pictures(ctx, zf, blob)


def read_odf(ctx: Context, blob: Blob) -> None:
    """Text, tables, headers/footers and metadata of an OpenDocument file."""
    with open_zip(blob.data) as zf:
        if "META-INF/manifest.xml" in zf.namelist():
            manifest = member_bytes(ctx, zf, zf.getinfo("META-INF/manifest.xml"), blob.location)
            if manifest is not None and b"encryption-data" in manifest:
                ctx.fail(blob.location, ENCRYPTED)
                return
        pieces = list(_texts(ctx, zf, ("content.xml", "styles.xml"), _ODF, blob.location))
        pieces += _texts(ctx, zf, ("meta.xml",), _PROPS, blob.location)
        _emit(ctx, blob, pieces)
        _pictures(ctx, zf, blob)
