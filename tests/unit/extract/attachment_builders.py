"""Builders for the attachment tests: archives of every format, PDFs drawn glyph by
glyph, and MIME messages whose attachment names are encoded in the ways mail does it."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import random
import tarfile
import urllib.parse
import zipfile
import zlib

#: container formats ``wrap`` knows, and the suffix each gives its file name
FORMATS = {
    "zip": ".zip",
    "7z": ".7z",
    "tar": ".tar",
    "tgz": ".tgz",
    "tar.bz2": ".tar.bz2",
    "txz": ".txz",
    "gz": ".gz",
    "bz2": ".bz2",
    "xz": ".xz",
}


def _tar(name: str, data: bytes, folder: str = "") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if folder:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        info = tarfile.TarInfo(f"{folder}/{name}" if folder else name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sevenzip(members: dict[str, bytes], password: str | None = None) -> bytes:
    """A 7z archive holding ``members``."""
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password=password) as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return out.getvalue()


def wrap(fmt: str, name: str, data: bytes) -> tuple[str, bytes]:
    """``data`` (a file called ``name``) put in a container of format ``fmt``: the
    container's file name and bytes."""
    stem = name.rpartition(".")[0] or name
    if fmt == "zip":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(name, data)
        packed = out.getvalue()
    elif fmt == "7z":
        packed = sevenzip({name: data})
    elif fmt in ("tar", "tgz", "tar.bz2", "txz"):
        plain = _tar(name, data)
        packed = {
            "tar": plain,
            "tgz": gzip.compress(plain),
            "tar.bz2": bz2.compress(plain),
            "txz": lzma.compress(plain),
        }[fmt]
    else:  # single-file compressions keep the inner name
        compress = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[fmt]
        return name + FORMATS[fmt], compress(data)
    return stem + FORMATS[fmt], packed


# --- PDFs written by hand, so every operator is the test's choice ------------------------


def raw_pdf(
    content: bytes, info: bytes = b"", attachment: tuple[str, bytes] | None = None
) -> bytes:
    """A one-page PDF drawing ``content`` with Helvetica as /F1 (Flate-compressed),
    optionally with an info dictionary body and one embedded file."""
    stream = zlib.compress(content)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R"
        + (b" /Names << /EmbeddedFiles << /Names [(f) 7 0 R] >> >>" if attachment else b"")
        + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< " + info + b" >>",
    ]
    if attachment is not None:
        name, data = attachment
        objects.append(b"<< /Type /Filespec /F (%s) /EF << /F 8 0 R >> >>" % name.encode())
        objects.append(
            b"<< /Type /EmbeddedFile /Length %d >>\nstream\n%s\nendstream" % (len(data), data)
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _escape(char: str) -> bytes:
    return char.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")


def glyph_ops(lines: list[str], size: float = 12, seed: int | None = None) -> bytes:
    """Operators drawing each glyph of ``lines`` on its own, at the place a typesetter
    would put it (Helvetica widths), in document order or shuffled by ``seed``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    ops = []
    for row, text in enumerate(lines):
        x = 72.0
        for char in text:
            if not char.isspace():
                ops.append(
                    b"BT /F1 %.1f Tf %.3f %.3f Td (%s) Tj ET"
                    % (size, x, 720 - row * size * 1.4, _escape(char))
                )
            x += stringWidth(char, "Helvetica", size)
    if seed is not None:
        random.Random(seed).shuffle(ops)  # noqa: S311 - a drawing order, not a secret
    return b"\n".join(ops)


# --- attachment names as mail encodes them ------------------------------------------------

NAME_ENCODINGS = ("plain", "rfc2231", "rfc2231-continued", "rfc2047-b", "rfc2047-q", "ct-name")


def disposition(name: str, how: str) -> tuple[str, str]:
    """(Content-Disposition, Content-Type parameters) carrying ``name`` encoded ``how``."""
    quoted = urllib.parse.quote(name.encode(), safe="")
    if how == "plain":
        return f'attachment; filename="{name}"', ""
    if how == "rfc2231":
        return f"attachment; filename*=utf-8''{quoted}", ""
    if how == "rfc2231-continued":
        half = len(quoted) // 2
        while "%" in quoted[half - 2 : half]:  # never split a %XX escape
            half += 1
        return (
            f"attachment; filename*0*=utf-8''{quoted[:half]}; filename*1*={quoted[half:]}",
            "",
        )
    if how == "rfc2047-b":
        word = base64.b64encode(name.encode()).decode()
        return f'attachment; filename="=?utf-8?B?{word}?="', ""
    if how == "rfc2047-q":
        word = "".join(
            chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 32 else f"={b:02X}"
            for b in name.encode()
        )
        return f'attachment; filename="=?utf-8?Q?{word}?="', ""
    return "attachment", f"; name*=utf-8''{quoted}"


def mime_with_named_part(name: str, how: str, data: bytes, ctype: str = "image/png") -> bytes:
    """Wire bytes of a message whose one attachment is called ``name``, encoded ``how``."""
    disp, params = disposition(name, how)
    body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        b"From: worker@council.example.gov.uk\r\nTo: someone@landlord.example\r\n"
        b"Subject: Photos\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b"--b1\r\nContent-Type: " + ctype.encode() + params.encode() + b"\r\n"
        b"Content-Disposition: " + disp.encode() + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"--b1--\r\n"
    )


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
