"""Shared state of one extraction: limits, budgets, and what has been found so far.

Extractors never return values up the call chain; they add segments and unreadable
parts to the ``Context`` so a failure half way through a file keeps what was read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import budget
from gateway.register.glyphs import clean
from gateway.segments import Segment, Unreadable

MIB = 1024 * 1024

# Fixed reasons: short phrases, never text taken from the message.
CORRUPT = "corrupt"
ENCRYPTED = "encrypted"
OVER_SIZE = "over size limit"
# These two live with the scan's deadline (matching raises them too); the extractors
# find them here.
OVER_TIME = budget.OVER_TIME
OverBudget = budget.OverBudget
TOO_MANY = "too many entries"
RATIO = "compression ratio"
TOO_DEEP = "too deeply nested"
UNPARSEABLE = "unparseable"


@dataclass(frozen=True, slots=True)
class Limits:
    """Budgets that keep a hostile message from exhausting time or memory."""

    max_message_bytes: int = 50 * MIB
    max_part_bytes: int = 25 * MIB
    #: nesting of archives and forwarded mail inside the message
    max_depth: int = 5
    max_archive_entries: int = 1000
    max_total_uncompressed: int = 100 * MIB
    #: uncompressed/compressed ratio above which an archive entry is a zip bomb
    max_ratio: int = 100
    #: seconds for the whole scan of one message, extraction and matching together
    time_budget_s: float = 10.0
    max_pdf_pages: int = 2000
    #: read text in images by OCR; off: every image is ``unscannable`` ("not read: OCR off")
    ocr: bool = True
    #: pixels of one image (or frame), checked from its header before decoding: an A4
    #: page at 600 dpi is 35 Mpx; a decompression bomb is billions
    max_image_pixels: int = 40_000_000
    #: frames (TIFF pages, GIF frames) of one image read by OCR
    max_image_frames: int = 100
    #: seconds of OCR for one image or frame (a dense A4 page at 200 dpi takes ~1 s)
    ocr_budget_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes of one attachment or archive entry waiting to be read."""

    data: bytes
    name: str
    content_type: str
    location: str
    depth: int


BlobReader = Callable[["Context", Blob], None]


def _no_reader(ctx: Context, blob: Blob) -> None:
    """Placeholder until the dispatcher is installed; reading nothing is safe here."""


@dataclass(slots=True)
class Context:
    """Mutable accumulator for one call of ``extract``."""

    limits: Limits
    deadline: float = 0.0
    bytes_seen: int = 0
    uncompressed: int = 0
    segments: list[Segment] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    #: locations of every attachment, archive member and folder seen (see ``Extraction``)
    names: list[str] = field(default_factory=list)
    #: the dispatcher, injected so format modules can recurse without import cycles
    read_blob: BlobReader = _no_reader

    def __post_init__(self) -> None:
        # A deadline given by the caller is the whole scan's (extract and match share
        # one budget); without one, extraction alone gets the budget.
        if not self.deadline:
            self.deadline = budget.Deadline.after(self.limits.time_budget_s).at

    def add(self, location: str, text: str, *, reading: str = "", hidden: str = "") -> None:
        """Record the text of one place as a reader sees it (``glyphs.clean``: no
        invisible characters, lookalikes read as what they imitate); empty or blank
        text is dropped.  ``reading`` and ``hidden``: see ``Segment``."""
        text = clean(text)
        if text and not text.isspace():
            self.segments.append(Segment(location, text, reading, hidden))

    def fail(self, location: str, reason: str) -> None:
        """Record a place that could not be read, for a fixed reason."""
        self.unreadable.append(Unreadable(location, reason))

    def check_time(self) -> None:
        """Stop the whole extraction when the time budget is spent."""
        if time.monotonic() > self.deadline:
            raise OverBudget(OVER_TIME)

    def count_bytes(self, n: int) -> None:
        """Charge ``n`` decoded bytes to the message; stop when over its size limit."""
        self.bytes_seen += n
        if self.bytes_seen > self.limits.max_message_bytes:
            raise OverBudget(OVER_SIZE)


def child(base: str, name: str) -> str:
    """Location of an attachment ``name`` inside ``base`` (``""`` is the message)."""
    return f"{base}/{name}" if base else f"attachment:{name}"


def field_of(base: str, name: str) -> str:
    """Location of a message field (``subject``, ``body``...) inside ``base``."""
    return f"{base}/{name}" if base else name
