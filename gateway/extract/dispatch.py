"""Blob (attachment bytes, name, declared type) -> the extractor for its format.

The format is decided by magic bytes first (they cannot lie about what a parser will
see), then by filename extension, then by declared content type, so a .docx sent as
application/octet-stream, or a PDF named .txt, is still read as what it is. A part none
of these place is sniffed: text (UTF-8, UTF-16 with or without BOM, single-byte) is read
as text, known media (audio, video, fonts, images OCR cannot open) carry no text, and
anything else is ``unknown format``: the gateway never skips a part it could not read.
Images (PNG, JPEG, TIFF, GIF, BMP, WebP) are read by OCR (``ocr.read_image``).
"""

from __future__ import annotations

import codecs
import re
import zipfile
from io import BytesIO

from gateway.budget import OverBudget
from gateway.extract import archive, forwarded, ocr, office, pdf, plain
from gateway.extract.archive import UNSUPPORTED_ARCHIVE
from gateway.extract.context import CORRUPT, ENCRYPTED, Blob, Context
from gateway.extract.textcodec import decode_text

#: a binary part that is no format we read, no archive and no media
UNKNOWN_FORMAT = "unknown format"
_TEXT_KINDS = dict.fromkeys(("txt", "csv", "tsv", "md", "log", "ics", "vcf", "ini"), "text")
_ARCHIVE_EXTENSIONS = (
    "rar arj lzh lha ace cab zst zstd tzst lz4 lz tlz z taz iso dmg cpio "
    "deb rpm sit sitx xar wim zoo arc pea alz egg squashfs"
)
_EXTENSIONS = {
    **_TEXT_KINDS,
    **dict.fromkeys(_ARCHIVE_EXTENSIONS.split(), "unsupported"),
    **dict.fromkeys(("docx", "docm", "dotx"), "docx"),
    **dict.fromkeys(("xlsx", "xlsm"), "xlsx"),
    **dict.fromkeys(("pptx", "pptm"), "pptx"),
    **dict.fromkeys(("odt", "ods", "odp"), "odf"),
    **dict.fromkeys(("gz", "tgz", "gzip"), "gzip"),
    **dict.fromkeys(("bz2", "tbz", "tbz2", "tb2"), "bzip2"),
    **dict.fromkeys(("xz", "txz", "lzma"), "xz"),
    **dict.fromkeys(("html", "htm", "xhtml"), "html"),
    **dict.fromkeys(("xml", "svg"), "xml"),
    **dict.fromkeys(("p7m", "p7e", "gpg", "pgp"), "encrypted"),
    **dict.fromkeys(("p7s", "p7c", "sig", "cer", "der"), "media"),
    **dict.fromkeys(("png", "jpg", "jpeg", "jpe", "jfif", "gif", "bmp", "dib"), "image"),
    **dict.fromkeys(("tif", "tiff", "webp"), "image"),
    "pdf": "pdf",
    "zip": "zip",
    "7z": "7z",
    "tar": "tar",
    "msg": "msg",
    "eml": "eml",
    "rtf": "rtf",
    "json": "json",
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
    "application/x-7z-compressed": "7z",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-bzip2": "bzip2",
    "application/x-xz": "xz",
    "application/x-tar": "tar",
    "application/vnd.rar": "unsupported",
    "application/x-rar-compressed": "unsupported",
    "application/vnd.ms-cab-compressed": "unsupported",
    "application/zstd": "unsupported",
    "application/vnd.ms-outlook": "msg",
    "message/rfc822": "eml",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/xml": "xml",
    "text/xml": "xml",
    "image/svg+xml": "xml",
    "application/json": "json",
    "application/pkcs7-mime": "encrypted",
    "application/x-pkcs7-mime": "encrypted",
    "application/pkcs7-signature": "media",
    "application/x-pkcs7-signature": "media",
    **dict.fromkeys(
        (
            "image/png",
            "image/jpeg",
            "image/pjpeg",
            "image/gif",
            "image/bmp",
            "image/x-bmp",
            "image/x-ms-bmp",
            "image/tiff",
            "image/webp",
        ),
        "image",
    ),
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
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\xfd7zXZ\x00", "xz"),
    # archives and compressions we have no reader for
    (b"Rar!\x1a\x07", "unsupported"),
    (b"MSCF\x00\x00\x00\x00", "unsupported"),
    (b"ISc(", "unsupported"),  # InstallShield cabinet
    (b"\x60\xea", "unsupported"),  # ARJ
    (b"(\xb5/\xfd", "unsupported"),  # zstd
    (b"\x04\x22\x4d\x18", "unsupported"),  # lz4
    (b"LZIP", "unsupported"),
    (b"\x1f\x9d", "unsupported"),  # compress (.Z)
    (b"\x1f\xa0", "unsupported"),  # LZH compress
    (b"\x89LZO\x00", "unsupported"),
    (b"xar!", "unsupported"),
    (b"MSWIM\x00", "unsupported"),
    (b"!<arch>\n", "unsupported"),  # ar, .deb
    (b"\xed\xab\xee\xdb", "unsupported"),  # rpm
    (b"StuffIt", "unsupported"),
    (b"SIT!", "unsupported"),
    (b"hsqs", "unsupported"),  # squashfs
    (b"\x78\x9f\x3e\x22", "unknown"),  # TNEF (winmail.dat): no reader, not an archive
)
#: formats whose signature is not at offset 0: (offset, magic)
_PLACED = ((7, b"**ACE**"), (32769, b"CD001"), (20, b"\xdc\xa7\xc4\xfd"))
_LZH = re.compile(rb"..-l[hz][0-9a-z]-", re.DOTALL)
_CPIO = re.compile(rb"070707[0-7]{70}|07070[12][0-9A-Fa-f]{104}")
_BZIP2 = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")  # a block, or the end of stream


def _by_magic(data: bytes) -> str | None:
    """Format from the first bytes, when they are conclusive."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if ocr.is_image(head):
        return "image"
    if ocr.is_unread_image(head):
        return "unread image"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if _BZIP2.match(head):
        return "bzip2"
    stripped = head.lstrip()
    kind = next((k for sig, k in _SIGNATURES if stripped.startswith(sig)), None)
    if kind is None and data[257:262] == b"ustar":
        kind = "tar"
    if kind is None and (
        _LZH.match(head) or _CPIO.match(head) or any(data[o : o + len(m)] == m for o, m in _PLACED)
    ):
        kind = "unsupported"
    return kind


def _extension(name: str) -> str:
    return name.rpartition(".")[2].lower() if "." in name else ""


def kind_of(blob: Blob) -> str | None:
    """The extractor to use for ``blob``, or None when it must be sniffed."""
    claimed = _EXTENSIONS.get(_extension(blob.name)) or _TYPES.get(blob.content_type)
    magic = _by_magic(blob.data)
    if magic is not None:
        return magic
    if claimed is not None:
        return claimed
    if blob.content_type.startswith("text/"):
        return "text"
    return None


# --- sniffing a part without a useful type ------------------------------------------------

_SAMPLE = 64 * 1024
#: C0 controls that do not occur in text (tab, newlines, form feed and ESC do)
_CONTROL = bytes((*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F))
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f\ufffd\ufffe\uffff]")
#: share of control characters above which a sample is binary, not text
_MAX_CONTROL = 0.02
_MEDIA_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF",  # WebP, WAV, AVI
    b"\x00\x00\x01\x00",  # ICO
    b"8BPS",
    b"\xd7\xcd\xc6\x9a",  # WMF
    b"\x00\x00\x00\x0cjP  ",  # JPEG 2000
    b"\xff\x0a",  # JPEG XL
    b"ID3",
    b"\xff\xfb",
    b"\xff\xf3",
    b"\xff\xf2",
    b"OggS",
    b"fLaC",
    b"MThd",
    b"FORM",  # AIFF
    b"#!AMR",
    b"\x1a\x45\xdf\xa3",  # Matroska, WebM
    b"FLV\x01",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF: WMV, WMA
    b"\x00\x00\x01\xba",
    b"\x00\x00\x01\xb3",
    b"\x00\x01\x00\x00\x00",  # TrueType
    b"OTTO",
    b"true",
    b"ttcf",
    b"wOFF",
    b"wOF2",
)
_MEDIA_TYPES = ("image/", "audio/", "video/", "font/", "application/font", "application/x-font")
_MEDIA_WORDS = (
    "jpg jpeg jpe jfif png gif bmp dib tif tiff webp heic heif avif ico cur psd emf wmf "
    "jp2 jxl raw cr2 nef arw dng orf rw2 mp3 m4a aac wav ogg oga opus flac wma amr mid "
    "midi aif aiff mp4 m4v mov avi wmv mkv webm mpg mpeg 3gp flv ttf otf woff woff2 eot"
)
_MEDIA_EXTENSIONS = frozenset(_MEDIA_WORDS.split())


def _utf16(sample: bytes) -> str | None:
    """``utf-16-le``/``-be`` when every other byte is NUL (UTF-16 Latin text without BOM)."""
    half = len(sample) // 2
    if half < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > half * 0.3 and even < half * 0.05:
        return "utf-16-le"
    if even > half * 0.3 and odd < half * 0.05:
        return "utf-16-be"
    return None


def text_encoding(data: bytes) -> str | None:
    """The charset to read ``data`` as text with ("" = let the decoder choose), or None
    for binary: UTF BOMs, UTF-16 without BOM, else bytes with almost no C0 controls."""
    sample = data[:_SAMPLE]
    for bom, charset in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if sample.startswith(bom):
            return charset
    wide = _utf16(sample)
    if wide is not None:
        text = sample[: len(sample) & ~1].decode(wide, "replace")
        bad = len(_UNPRINTABLE.findall(text))
        return wide if bad <= len(text) * _MAX_CONTROL else None
    if 0 in sample:
        return None
    control = len(sample) - len(sample.translate(None, _CONTROL))
    return "" if control <= len(sample) * _MAX_CONTROL else None


def _is_media(blob: Blob) -> bool:
    """Images, audio, video and fonts, by their bytes or (binary ones) by what they claim."""
    head = blob.data[:16]
    if head.startswith(_MEDIA_SIGNATURES) or head[4:8] == b"ftyp":
        return True
    if blob.content_type.startswith(_MEDIA_TYPES):
        return True
    return _extension(blob.name) in _MEDIA_EXTENSIONS


_ARMOURED = (b"-----BEGIN PGP MESSAGE-----", b"-----BEGIN PKCS7-----", b"-----BEGIN CMS-----")


def _read_as_text(ctx: Context, blob: Blob, charset: str) -> None:
    """A part that sniffed as text: markup is read as markup, the rest as plain text."""
    head = blob.data[:512].lstrip()
    if head.startswith(_ARMOURED):  # an encrypted or opaque-signed message, armoured
        ctx.fail(blob.location, ENCRYPTED)
        return
    head = head.lower()
    if not charset and head.startswith((b"<!doctype html", b"<html")):
        plain.read_html(ctx, blob)
    elif not charset and head.startswith(b"<?xml"):
        plain.read_xml(ctx, blob)
    else:
        ctx.add(blob.location, decode_text(blob.data, charset or None).replace("\r\n", "\n"))


def _sniff(ctx: Context, blob: Blob, media: bool) -> None:
    """Read a part no magic or reader placed (``media``: it claims to be an image, a
    signature...): as text when it is text, else as media (no text), else unknown."""
    if not blob.data:
        return
    charset = text_encoding(blob.data)
    if charset is not None:
        _read_as_text(ctx, blob, charset)
    elif not (media or _is_media(blob)):
        ctx.fail(blob.location, UNKNOWN_FORMAT)


def _read_text(ctx: Context, blob: Blob) -> None:
    """A part that says it is text: UTF-16 without a BOM is still recognised."""
    charset = text_encoding(blob.data[:_SAMPLE])
    if charset and charset.startswith("utf-16"):
        ctx.add(blob.location, decode_text(blob.data, charset).replace("\r\n", "\n"))
    else:
        plain.read_text(ctx, blob)


def _read_image(ctx: Context, blob: Blob) -> None:
    """An image by its bytes is read by OCR; one only named or declared so (``.png``,
    ``image/jpeg``) whose bytes are no image is sniffed like other media."""
    if ocr.is_image(blob.data[:64]):
        ocr.read_image(ctx, blob)
    else:
        _sniff(ctx, blob, media=True)


def read_blob(ctx: Context, blob: Blob) -> None:
    """Extract whatever text ``blob`` holds into ``ctx``; what cannot be read is recorded."""
    ctx.check_time()
    ctx.names.append(blob.location)
    kind = kind_of(blob)
    if kind == "msg" and not blob.data.startswith(_OLE):
        kind = "eml"  # a .msg that is not OLE is usually a saved MIME message
    try:
        if kind in _FAILURES:
            ctx.fail(blob.location, _FAILURES[kind])
        elif kind is None or kind == "media":
            _sniff(ctx, blob, media=kind == "media")
        else:
            _READERS[kind](ctx, blob)
    except OverBudget:
        raise
    except Exception:  # any failure of a format we should read is a corrupt part
        ctx.fail(blob.location, CORRUPT)


_FAILURES = {
    "unread image": ocr.UNREAD_IMAGE,
    "unsupported": UNSUPPORTED_ARCHIVE,
    "unknown": UNKNOWN_FORMAT,
    "encrypted": ENCRYPTED,
}
_READERS = {
    "pdf": pdf.read_pdf,
    "docx": office.read_docx,
    "xlsx": office.read_xlsx,
    "pptx": office.read_pptx,
    "odf": office.read_odf,
    "zip": archive.read_zip,
    "7z": archive.read_7z,
    "gzip": archive.read_gzip,
    "bzip2": archive.read_bzip2,
    "xz": archive.read_xz,
    "tar": archive.read_tar,
    "msg": forwarded.read_msg,
    "eml": forwarded.read_eml,
    "rtf": plain.read_rtf,
    "html": plain.read_html,
    "xml": plain.read_xml,
    "json": plain.read_json,
    "text": _read_text,
    "image": _read_image,
}
