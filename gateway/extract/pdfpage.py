"""A PDF page (PDFium) -> a survey of what it draws: whether it has anything drawn
at all, the pictures on it, the invisible text over them (a scan's OCR layer), the
parts of pictures that boxes drawn later cover, and whether the page is worth
checking for text a viewer would not show (``gateway.extract.redaction``).

One walk over the page's objects (into forms, ``MAX_FORM_DEPTH`` deep) answers all of
that at the cost of a few PDFium calls per object (under 1 ms for a page of text).
Every function here calls PDFium: the caller holds ``pdf._PDFIUM``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass, field

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

MAX_FORM_DEPTH = 4
#: objects walked per page; past it the page is checked for hidden text regardless
MAX_OBJECTS = 20_000
#: pictures OCR'd per page; past it the page is unreadable, "too many entries"
MAX_PICTURES = 20
#: covered parts recorded per picture
_MAX_COVERS = 16
_OPAQUE = 255
#: points of a clip path looked at (a clip is a rectangle or a few curves)
_CLIP_SEGMENTS = 64
#: channel value over which a text's fill colour is "white" (drawn in the page's colour)
_WHITE = 235
_TEXT, _PATH, _IMAGE, _SHADING, _FORM = 1, 2, 3, 4, 5
#: text render modes that paint the glyphs (fill, stroke, both); the rest hide them
_PAINTED = frozenset((0, 1, 2))
#: annotations a viewer draws over the page that cover nothing on purpose
_HARMLESS_ANNOTS = frozenset((pdfium_c.FPDF_ANNOT_LINK, pdfium_c.FPDF_ANNOT_POPUP))

Box = tuple[float, float, float, float]  # left, bottom, right, top in page space


@dataclass(slots=True)
class Survey:
    """What one walk over a page's objects found."""

    #: a painted or drawn object of any kind (an empty page is not worth OCR)
    drawn: bool = False
    #: the page may hide text from a viewer: see ``suspicious``
    suspicious: bool = False
    #: image objects (with the box of the top-level object that draws them)
    images: list[tuple[object, Box]] = field(default_factory=list)
    #: boxes of invisible text (a scan's OCR layer, or text hidden on purpose)
    invisible: list[Box] = field(default_factory=list)
    #: vector drawing (paths, shadings): text may be drawn as outlines
    vector: bool = False
    #: every image is drawn upright at the top level (its pixels are what is shown)
    upright: bool = True
    #: union box of the filled shapes drawn so far, by colour bucket (``_shade``)
    fills: dict[tuple[int, int, int], Box] = field(default_factory=dict)
    #: union box of the text drawn so far (while walking)
    text_box: Box | None = None
    #: rectangles of redaction annotations: text marked to be redacted, never applied
    marked: list[Box] = field(default_factory=list)
    #: by index in ``images``: the parts of that picture that opaque filled shapes
    #: drawn after it cover (a box drawn over a scan), in page space
    covered: dict[int, list[Box]] = field(default_factory=dict)


class _Out:
    """ctypes out-parameters made once and reused: making them costs more than the
    PDFium call.  Only used under ``pdf._PDFIUM``, so never by two threads at once."""

    def __init__(self) -> None:
        self.floats = [ctypes.c_float() for _ in range(4)]
        self.float_refs = [ctypes.byref(v) for v in self.floats]
        self.uints = [ctypes.c_uint() for _ in range(4)]
        self.uint_refs = [ctypes.byref(v) for v in self.uints]
        self.ints = [ctypes.c_int() for _ in range(2)]
        self.int_refs = [ctypes.byref(v) for v in self.ints]


_OUT = _Out()


def _bounds(obj: object) -> Box | None:
    if not pdfium_c.FPDFPageObj_GetBounds(obj, *_OUT.float_refs):
        return None
    left, bottom, right, top = (v.value for v in _OUT.floats)
    return (left, bottom, right, top)


def _overlap(a: Box | None, b: Box | None) -> bool:
    return (
        a is not None
        and b is not None
        and a[0] < b[2]
        and b[0] < a[2]
        and a[1] < b[3]
        and b[1] < a[3]
    )


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _fill(obj: object) -> tuple[int, int, int] | None:
    """``obj``'s fill colour (None: none, or not opaque)."""
    if not pdfium_c.FPDFPageObj_GetFillColor(obj, *_OUT.uint_refs):
        return None
    red, green, blue, alpha = (v.value for v in _OUT.uints)
    return (red, green, blue) if alpha == _OPAQUE else None


def _shade(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """A coarse bucket of ``colour``: text and a box in one bucket look alike."""
    return (colour[0] >> 5, colour[1] >> 5, colour[2] >> 5)


def _clipped(obj: object, box: Box | None) -> bool:
    """Whether ``obj``'s clip path leaves part of ``box`` out (every path of a clip
    must hold it; the box of a path's points is a generous stand-in for the path)."""
    clip = pdfium_c.FPDFPageObj_GetClipPath(obj)
    if not clip or box is None:
        return False
    x, y = _OUT.floats[:2]
    x_ref, y_ref = _OUT.float_refs[:2]
    for path in range(pdfium_c.FPDFClipPath_CountPaths(clip)):
        points = []
        for index in range(
            min(_CLIP_SEGMENTS, pdfium_c.FPDFClipPath_CountPathSegments(clip, path))
        ):
            segment = pdfium_c.FPDFClipPath_GetPathSegment(clip, path, index)
            if segment and pdfium_c.FPDFPathSegment_GetPoint(segment, x_ref, y_ref):
                points.append((x.value, y.value))
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        slack = 1.0
        if (
            box[0] < min(xs) - slack
            or box[2] > max(xs) + slack
            or box[1] < min(ys) - slack
            or box[3] > max(ys) + slack
        ):
            return True
    return False


def _children(page: object, form: object | None) -> Iterator[object]:
    count = (
        pdfium_c.FPDFFormObj_CountObjects(form) if form else pdfium_c.FPDFPage_CountObjects(page)
    )
    get = pdfium_c.FPDFFormObj_GetObject if form else pdfium_c.FPDFPage_GetObject
    for index in range(max(0, count)):
        obj = get(form or page, index)
        if obj:
            yield obj


def _text(survey: Survey, obj: object, box: Box | None, crop: Box) -> None:
    """A text object: hidden by its render mode, colour, clip, or place off the page?"""
    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
    colour = _fill(obj)
    if mode not in _PAINTED:
        survey.suspicious = True
        if box is not None:
            survey.invisible.append(box)
    elif colour is None or min(colour) >= _WHITE or _clipped(obj, box):
        survey.suspicious = True
    elif _overlap(box, survey.fills.get(_shade(colour))):
        survey.suspicious = True  # on a shape of its own colour drawn before it
    if box is not None:
        if not _overlap(box, crop):
            survey.suspicious = True
        survey.text_box = _union(survey.text_box, box)


def _walk(
    page: object,
    form: object | None,
    top: Box | None,
    depth: int,
    survey: Survey,
    crop: Box,
    budget: list[int],
) -> None:
    for obj in _children(page, form):
        budget[0] -= 1
        if budget[0] < 0:
            survey.suspicious = True
            return
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        box = top if top is not None else _bounds(obj)
        survey.drawn = True
        if kind == _TEXT:
            _text(survey, obj, box, crop)
            continue
        filled = kind == _PATH and _filled(obj)
        if (filled or kind in (_IMAGE, _SHADING, _FORM)) and _overlap(box, survey.text_box):
            survey.suspicious = True  # drawn over text already on the page
        # an opaque shape over a picture (not a picture over a picture: the layers
        # of a compressed scan, a mask over its background, are drawn so)
        if filled and form is None and box is not None and _fill(obj) is not None:
            _cover(survey, box)
        if kind == _IMAGE:
            if box is not None:
                survey.images.append((obj, box))
            survey.upright = survey.upright and form is None and upright(obj)
        elif kind == _FORM and depth < MAX_FORM_DEPTH:
            _walk(page, obj, box, depth + 1, survey, crop, budget)
        else:
            survey.vector = True
        colour = _fill(obj) if filled and box is not None else None
        if colour is not None and box is not None:
            key = _shade(colour)
            survey.fills[key] = _union(survey.fills.get(key), box)


def _cover(survey: Survey, box: Box) -> None:
    """Record ``box`` as drawn over the pictures already on the page."""
    for index, (_, under) in enumerate(survey.images[:MAX_PICTURES]):
        if _overlap(box, under):
            parts = survey.covered.setdefault(index, [])
            if len(parts) < _MAX_COVERS:
                parts.append(_intersection(box, under))


def _intersection(a: Box, b: Box) -> Box:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def upright(obj: object) -> bool:
    """Whether image ``obj`` is drawn unturned and unmirrored (scaled and moved only)."""
    matrix = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(matrix)):
        return False
    return bool(matrix.b == 0 and matrix.c == 0 and matrix.a > 0 and matrix.d > 0)


def _filled(path: object) -> bool:
    pdfium_c.FPDFPath_GetDrawMode(path, *_OUT.int_refs)
    return bool(_OUT.ints[0].value != pdfium_c.FPDF_FILLMODE_NONE)


def survey(page: pdfium.PdfPage) -> Survey:
    """One walk over ``page``'s objects and annotations."""
    found = Survey()
    left, bottom, right, top = page.get_cropbox()
    _walk(page.raw, None, None, 0, found, (left, bottom, right, top), [MAX_OBJECTS])
    rect = pdfium_c.FS_RECTF()
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
        if annot:
            subtype = pdfium_c.FPDFAnnot_GetSubtype(annot)
            if subtype not in _HARMLESS_ANNOTS:
                found.suspicious = True  # a shape, a highlight, a stamp over the text
            if subtype == pdfium_c.FPDF_ANNOT_REDACT and pdfium_c.FPDFAnnot_GetRect(
                annot, ctypes.byref(rect)
            ):
                box = (
                    rect.left,
                    min(rect.bottom, rect.top),
                    rect.right,
                    max(rect.bottom, rect.top),
                )
                found.marked.append(box)
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return found
