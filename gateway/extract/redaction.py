"""Text a reader of the file does not see although the file holds it (a failed
redaction) -> the hidden words, which the caller adds as ``hidden=REDACTION`` segments.

PDF: the page is rendered as a viewer shows it (PDFium, annotations included, at
``SCALE`` x 72 dpi) and each character of the text layer is looked at where it is
drawn: if the pixels of its box are all one colour, nothing of the glyph shows (it is
under an opaque box, in the colour of what is beneath it, clipped away, invisible,
or off the page).  A glyph a viewer shows always leaves edges in its box.  The box is
the glyph's own height and its advance width (side bearings included), shrunk by one
pixel, so that a thin visible glyph (``l``, ``1``, ``I``) still holds background;
punctuation (``.``, ``-``, ``_``, rules and leaders) can fill its box, so only
letters and digits count as evidence.  Invisible text over a picture that shows the
same words (a searchable scan) leaves the picture's ink in its boxes: it is not
hidden.

Cost (``python -m benchmarks.pdfpages``): the check costs 15-20 ms on a dense page
(rendering ~2 ms, the glyph boxes ~2 us a glyph, the pixels ~3 us a glyph), against
4-5 ms for reading its text layer.  So ``pdfpage.survey`` (under 1 ms a page) lets
only pages that draw a filled shape, an image or a form over their text, put text
on a shape of its own colour, or have invisible, white, clipped or off-page text, or
annotations, come here: none of the 53 pages of two ordinary manuals, and an
ordinary page costs 10-15% more than before.  Rendering stops at ``until``.

Pictures: a box drawn over a scan hides part of the picture from a viewer while the
file keeps every pixel; ``pdfpicture.covered_crops`` cuts those parts out of the
picture's own pixels and ``pdf`` reads them by OCR as ``hidden=REDACTION`` text.

DOCX: runs whose text Word shows in (about) the colour of what is behind it: a dark
highlight or shading with dark text (Word's automatic colour turns white on dark, so
only an explicit dark colour hides), white text on no shading, and Word's hidden text
(``w:vanish``); from the run, its character style, its paragraph (and its style),
and its table cell.  A shape drawn over text is not detected: where Word lays the
text out is not in the file.  Cost: a part is parsed again only when its bytes hold
hidden text, a highlight, shading or a light colour, or a style may hide text (styles
are cached by content): an ordinary 5,000-paragraph document reads in 66 ms against
63 ms without this pass.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import re
import zipfile
from collections.abc import Iterator, Sequence
from xml.etree.ElementTree import Element, ParseError

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from gateway.extract import pdfpicture
from gateway.extract.archive import member_bytes
from gateway.extract.context import Context
from gateway.extract.xmltext import local, parse
from gateway.segments import REDACTION

#: render scale for the check (108 dpi): an 6 pt letter is 6 pixels tall
SCALE = 1.5
#: pixels of a glyph's box this far apart (of 255): something shows
EDGE = 8
#: letters and digits a run of hidden text needs to be reported
MIN_HIDDEN = 2

#: a character's state: shown (its box has an edge), hidden (none), unknown (no box,
#: a space, or too small to judge)
SHOWN, HIDDEN, UNKNOWN = 0, 1, 2


def _device_map(page: pdfium.PdfPage, width: int, height: int) -> np.ndarray:
    """The affine map from page space to the rendered bitmap's pixels (3x2)."""
    points = ((0.0, 0.0), (1000.0, 0.0), (0.0, 1000.0))
    out = []
    x, y = ctypes.c_int(), ctypes.c_int()
    for px, py in points:
        pdfium_c.FPDF_PageToDevice(
            page.raw, 0, 0, width, height, 0, px, py, ctypes.byref(x), ctypes.byref(y)
        )
        out.append((x.value, y.value))
    origin = np.array(out[0], float)
    return np.array(
        [(np.array(out[1]) - origin) / 1000, (np.array(out[2]) - origin) / 1000, origin]
    )


def _char_boxes(textpage: pdfium.PdfTextPage) -> tuple[str, np.ndarray]:
    """Every character of the text layer and its box: left and right of its advance
    (the loose box), bottom and top of its glyph (the tight box), in page space."""
    handle = textpage.raw
    count = pdfium_c.FPDFText_CountChars(handle)
    chars = []
    boxes = np.zeros((count, 4))
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    tight = tuple(ctypes.byref(v) for v in (left, right, bottom, top))
    rect = pdfium_c.FS_RECTF()
    loose = ctypes.byref(rect)
    for index in range(count):
        char = chr(pdfium_c.FPDFText_GetUnicode(handle, index))
        chars.append(char)
        if char.isalnum() and pdfium_c.FPDFText_GetCharBox(handle, index, *tight):
            pdfium_c.FPDFText_GetLooseCharBox(handle, index, loose)
            boxes[index] = (rect.left, bottom.value, rect.right, top.value)
    return "".join(chars), boxes


def _states(pixels: np.ndarray, device: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """SHOWN, HIDDEN or UNKNOWN for each box, from the pixels of the rendered page."""
    height, width = pixels.shape
    corners = []
    for x, y in ((0, 1), (2, 3), (0, 3), (2, 1)):
        points = np.stack([boxes[:, x], boxes[:, y], np.ones(len(boxes))], axis=1)
        corners.append(points @ device)
    xs = np.stack([c[:, 0] for c in corners])
    ys = np.stack([c[:, 1] for c in corners])
    # one pixel in from each side: the antialiased rim of a neighbouring glyph or of
    # a box drawn flush with the text is not the glyph's own ink
    x0, x1 = np.floor(xs.min(0)) + 1, np.ceil(xs.max(0)) - 1
    y0, y1 = np.floor(ys.min(0)) + 1, np.ceil(ys.max(0)) - 1
    real = boxes.any(axis=1)
    off_page = real & ((x1 <= 0) | (y1 <= 0) | (x0 >= width) | (y0 >= height))
    cx0, cx1 = np.clip(x0, 0, width).astype(int), np.clip(x1, 0, width).astype(int)
    cy0, cy1 = np.clip(y0, 0, height).astype(int), np.clip(y1, 0, height).astype(int)
    judged = real & ~off_page & (cx1 - cx0 >= 2) & (cy1 - cy0 >= 2)
    states = np.full(len(boxes), UNKNOWN)
    states[off_page] = HIDDEN
    # a slice and two reductions per glyph: ~3 us, cheaper than summed-area tables
    # of the whole page's edges (~25 ms) below some 8,000 glyphs
    for index in np.flatnonzero(judged).tolist():
        box = pixels[cy0[index] : cy1[index], cx0[index] : cx1[index]]
        states[index] = SHOWN if int(box.max()) - int(box.min()) > EDGE else HIDDEN
    return states


def _runs(text: str, states: np.ndarray) -> Iterator[str]:
    """Stretches of ``text`` with no shown character and at least ``MIN_HIDDEN``
    hidden letters or digits, from the first to the last of them; spaces and
    punctuation (not judged) join a stretch."""
    for shown, group in itertools.groupby(range(len(text)), key=lambda i: states[i] == SHOWN):
        if shown:
            continue
        hidden = [i for i in group if states[i] == HIDDEN]
        if len(hidden) >= MIN_HIDDEN:
            words = text[hidden[0] : hidden[-1] + 1].split()
            if words:
                yield " ".join(words)


def hidden_text(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, until: float
) -> list[str] | None:
    """The runs of ``page``'s text layer that a viewer does not show; None when the
    page could not be rendered before ``until`` (a ``time.monotonic()``)."""
    text, boxes = _char_boxes(textpage)
    if not boxes.any():
        return []
    pixels = pdfpicture.render(page, SCALE, until)
    if pixels is None:
        return None
    device = _device_map(page, pixels.shape[1], pixels.shape[0])
    return list(_runs(text, _states(pixels, device, boxes)))


def marked_text(
    textpage: pdfium.PdfTextPage, marked: Sequence[tuple[float, float, float, float]]
) -> list[str]:
    """The runs of the text layer inside redaction annotations (Acrobat's "mark for
    redaction", never applied: a viewer may show the text, and the file holds it)."""
    text, boxes = _char_boxes(textpage)
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    y = (boxes[:, 1] + boxes[:, 3]) / 2
    inside = np.zeros(len(boxes), bool)
    for left, bottom, right, top in marked:
        inside |= (left <= x) & (x <= right) & (bottom <= y) & (y <= top)
    real = boxes.any(axis=1)
    states = np.full(len(boxes), UNKNOWN)
    states[real] = np.where(inside[real], HIDDEN, SHOWN)
    return list(_runs(text, states))


# --- DOCX ---------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
#: contrast ratio (WCAG's, 1 to 21) under which text cannot be read off what is
#: behind it: black on #2B2B2B is 1.5, light grey #C0C0C0 on white 1.8 (faint, but
#: read); WCAG asks 4.5 of body text
_UNREADABLE = 1.5
_HEX = re.compile(r"[0-9A-Fa-f]{6}")
#: Word's highlight colours (``w:highlight``), as Word draws them
_HIGHLIGHTS = {
    "black": "000000",
    "blue": "0000FF",
    "cyan": "00FFFF",
    "green": "00FF00",
    "magenta": "FF00FF",
    "red": "FF0000",
    "yellow": "FFFF00",
    "white": "FFFFFF",
    "darkBlue": "000080",
    "darkCyan": "008080",
    "darkGreen": "008000",
    "darkMagenta": "800080",
    "darkRed": "800000",
    "darkYellow": "808000",
    "darkGray": "808080",
    "lightGray": "C0C0C0",
}
_PARTS = re.compile(r"word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml")


def _rgb(value: str | None) -> tuple[int, int, int] | None:
    if value is None or not _HEX.fullmatch(value):
        return None
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def _props(element: Element | None) -> dict[str, str]:
    """The run properties that decide visibility, from an ``rPr`` or ``pPr``."""
    found: dict[str, str] = {}
    if element is None:
        return found
    for child in element:
        name = local(child.tag)
        if name == "color":
            found["color"] = child.get(_W + "val", "auto")
        elif name == "highlight" and child.get(_W + "val") in _HIGHLIGHTS:
            found["back"] = _HIGHLIGHTS[child.get(_W + "val", "")]  # drawn over shading
        elif name == "shd":
            # "clear": the fill colour; "solid": the pattern's colour, at 100%
            solid = child.get(_W + "val") == "solid"
            fill = child.get(_W + ("color" if solid else "fill"), "auto")
            if fill != "auto":
                found.setdefault("back", fill)
        elif name == "vanish" and child.get(_W + "val", "true") not in ("0", "false", "off"):
            found["vanish"] = "1"
    return found


@functools.lru_cache(maxsize=16)
def _styles(data: bytes | None) -> dict[str, dict[str, str]]:
    """Visibility properties of each paragraph and character style (those runs and
    paragraphs name), with what it is based on folded in.  Cached by content: the
    documents of one office share a template, whose styles part can be 350 KB
    (25 ms to parse).  Callers never change what it returns."""
    if data is None:
        return {}
    own: dict[str, tuple[dict[str, str], str]] = {}
    for style in parse(data).iter(_W + "style"):
        if style.get(_W + "type", "paragraph") not in ("paragraph", "character"):
            continue  # table and numbering styles: not named by pStyle or rStyle
        props = _props(style.find(_W + "rPr"))
        props.update((k, v) for k, v in _props(style.find(_W + "pPr")).items() if k == "back")
        based = style.find(_W + "basedOn")
        own[style.get(_W + "styleId", "")] = (
            props,
            based.get(_W + "val", "") if based is not None else "",
        )
    resolved: dict[str, dict[str, str]] = {}
    for name in own:
        chain: list[dict[str, str]] = []
        seen: set[str] = set()
        current = name
        while current in own and current not in seen and len(chain) < 10:
            seen.add(current)
            chain.append(own[current][0])
            current = own[current][1]
        merged: dict[str, str] = {}
        for props in reversed(chain):
            merged.update(props)
        resolved[name] = merged
    return resolved


def _unreadable(props: dict[str, str]) -> bool:
    """Whether text with ``props`` is drawn in (about) the colour behind it."""
    if props.get("vanish"):
        return True
    colour = _rgb(props.get("color"))
    back = _rgb(props.get("back")) or (255, 255, 255)  # the page
    if colour is None:  # automatic: Word picks black or white to contrast: shown
        return False
    light, dark = sorted((_luminance(colour), _luminance(back)), reverse=True)
    return (light + 0.05) / (dark + 0.05) < _UNREADABLE


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG's relative luminance of an sRGB colour."""
    linear = [c / 3294 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _hidden_runs(root: Element, styles: dict[str, dict[str, str]]) -> Iterator[str]:
    """Text of the runs of one part that Word shows in the colour behind them: the
    run's shading or highlight, else its paragraph's, else its table cell's."""
    stack: list[tuple[Element, str]] = [(root, "")]
    while stack:
        element, back = stack.pop()
        name = local(element.tag)
        if name == "tc":
            shading = element.find(f"{_W}tcPr/{_W}shd")
            fill = shading.get(_W + "fill", "auto") if shading is not None else "auto"
            back = back if fill == "auto" else fill
        if name == "p":
            yield from _paragraph(element, back, styles, stack)
        else:
            stack.extend((child, back) for child in reversed(element))


def _paragraph(
    paragraph: Element,
    back: str,
    styles: dict[str, dict[str, str]],
    later: list[tuple[Element, str]],
) -> Iterator[str]:
    """Hidden runs of one paragraph, joined while adjacent; paragraphs nested in it
    (a text box) go to ``later``."""
    ppr = paragraph.find(_W + "pPr")
    base: dict[str, str] = {"back": back} if back else {}
    style = ppr.find(_W + "pStyle") if ppr is not None else None
    if style is not None:
        base.update(styles.get(style.get(_W + "val", ""), {}))
    base.update((k, v) for k, v in _props(ppr).items() if k == "back")
    pieces: list[str] = []
    for run in _runs_of(paragraph, back, later):
        rpr = run.find(_W + "rPr")
        props = dict(base)
        rstyle = rpr.find(_W + "rStyle") if rpr is not None else None
        if rstyle is not None:
            props.update(styles.get(rstyle.get(_W + "val", ""), {}))
        props.update(_props(rpr))
        text = "".join(t.text or "" for t in run if local(t.tag) in ("t", "delText"))
        if _unreadable(props) and text.strip():
            pieces.append(text)
        elif pieces and text.strip():
            yield "".join(pieces)
            pieces = []
    if pieces:
        yield "".join(pieces)


def _runs_of(paragraph: Element, back: str, later: list[tuple[Element, str]]) -> Iterator[Element]:
    """The runs of ``paragraph`` (in hyperlinks, fields, insertions too), in order;
    nested paragraphs are put on ``later`` instead of read here."""
    stack = list(reversed(paragraph))
    while stack:
        element = stack.pop()
        name = local(element.tag)
        if name == "p":
            later.append((element, back))
            continue
        if name == "r":
            yield element
        stack.extend(reversed(element))


def read_docx_hidden(ctx: Context, zf: zipfile.ZipFile, location: str) -> None:
    """The runs of a DOCX a reader does not see, as one ``hidden=REDACTION`` segment
    at ``location`` (the document's text, read as usual, holds them too)."""
    ctx.add(location, "\n".join(docx_hidden(ctx, zf, location)), hidden=REDACTION)


def _may_hide(props: dict[str, str]) -> bool:
    """Whether a style could hide its text: hidden text, a background, or a colour
    that does not show on the white page."""
    return bool(props.get("vanish") or props.get("back") or _unreadable(props))


#: what a part must hold for any of its runs to be hidden, unless a style hides them
_HIDING = re.compile(rb"<w:(?:vanish|highlight|shd)\b|<w:color [^>]*w:val=\"([0-9A-Fa-f]{6})\"")


def _may_hide_bytes(data: bytes) -> bool:
    """Whether the XML of a part could hide a run by itself (checked on the bytes:
    parsing costs more than the ordinary reading of the part; ordinary documents,
    black or coloured text on the page and no shading, skip it)."""
    for match in _HIDING.finditer(data):
        colour = match.group(1)
        if colour is None or _unreadable({"color": colour.decode()}):
            return True
    return False


def docx_hidden(ctx: Context, zf: zipfile.ZipFile, location: str) -> list[str]:
    """Runs of a DOCX's body, headers, footers and notes a reader of it does not see."""
    present = set(zf.namelist())
    styles_data = None
    if "word/styles.xml" in present:
        styles_data = member_bytes(ctx, zf, zf.getinfo("word/styles.xml"), location)
    try:
        styles = _styles(styles_data)
    except (ParseError, ValueError):  # a broken styles part: runs are judged on their own
        styles = {}
    found: list[str] = []
    risky = any(_may_hide(props) for props in styles.values())
    for name in sorted(n for n in present if _PARTS.fullmatch(n)):
        data = member_bytes(ctx, zf, zf.getinfo(name), location)
        if data is None or not (risky or _may_hide_bytes(data)):
            continue
        try:
            root = parse(data)
        except (ParseError, ValueError):  # the normal reading reports it
            continue
        found += _hidden_runs(root, styles)
    return found
