"""Blob (attachment bytes, name, declared type) -> the extractor for its format.

The format is decided by magic bytes first (they cannot lie about what a parser will
see), then by filename extension, then by declared content type, so a .docx sent as
application/octet-stream, or a PDF named .txt, is still read as what it is.
"""

from __future__ import annotations

import zipfile
from io import BytesIO

from gateway.extract import archive, forwarded, office, pdf, plain
from gateway.extract.context import CORRUPT, Blob, Context, OverBudget

_EXTENSIONS = {
    "pdf": "pdf",
    "docx": "docx",
    "docm": "docx",
    "dotx": "docx",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
    "pptx": "pptx",
    "pptm": "pptx",
    "odt": "odf",
    "ods": "odf",
    "odp": "odf",
    "zip": "zip",
    "gz": "gzip",
    "tgz": "tar",
    "tar": "tar",
    "msg": "msg",
    "eml": "eml",
    "rtf": "rtf",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "xml": "xml",
    "json": "json",
    "txt": "text",
    "csv": "text",
    "tsv": "text",
    "md": "text",
    "log": "text",
    "ics": "text",
    "vcf": "text",
}
_TYPES = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odf",
    "application/vnd.oasis.opendocument.spreadsheet": "odf",
    "application/vnd.oasis.opendocument.presentation": "odf",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-tar": "tar",
    "application/vnd.ms-outlook": "msg",
    "message/rfc822": "eml",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/json": "json",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _zip_kind(data: bytes) -> str:
    """Which OOXML/ODF format a zip holds, or plain ``zip``."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "content.xml" in names or "mimetype" in names:
        return "odf"
    return "zip"


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (_OLE, "msg"),
    (b"\x1f\x8b", "gzip"),
    (b"{\\rtf", "rtf"),
)


def _by_magic(data: bytes) -> str | None:
    """Format from the first bytes, when they are conclusive."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    stripped = head.lstrip()
    kind = next((k for sig, k in _SIGNATURES if stripped.startswith(sig)), None)
    if kind is None and data[257:262] == b"ustar":
        kind = "tar"
    return kind


def kind_of(blob: Blob) -> str | None:
    """The extractor to use for ``blob``, or None for formats we do not read."""
    ext = blob.name.rpartition(".")[2].lower() if "." in blob.name else ""
    claimed = _EXTENSIONS.get(ext) or _TYPES.get(blob.content_type)
    magic = _by_magic(blob.data)
    if magic is not None:
        return magic
    if claimed is not None:
        return claimed
    if blob.content_type.startswith("text/"):
        return "text"
    return None


def read_blob(ctx: Context, blob: Blob) -> None:
    """Extract whatever text ``blob`` holds into ``ctx``; unknown formats are skipped."""
    ctx.check_time()
    kind = kind_of(blob)
    if kind is None:
        return
    if kind == "msg" and not blob.data.startswith(_OLE):
        kind = "eml"  # a .msg that is not OLE is usually a saved MIME message
    try:
        _READERS[kind](ctx, blob)
    except OverBudget:
        raise
    except Exception:  # any failure of a format we should read is a corrupt part
        ctx.fail(blob.location, CORRUPT)


_READERS = {
    "pdf": pdf.read_pdf,
    "docx": office.read_docx,
    "xlsx": office.read_xlsx,
    "pptx": office.read_pptx,
    "odf": office.read_odf,
    "zip": archive.read_zip,
    "gzip": archive.read_gzip,
    "tar": archive.read_tar,
    "msg": forwarded.read_msg,
    "eml": forwarded.read_eml,
    "rtf": plain.read_rtf,
    "html": plain.read_html,
    "xml": plain.read_xml,
    "json": plain.read_json,
    "text": plain.read_text,
}
