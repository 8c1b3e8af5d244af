"""extract -> Segment: a piece of text with the place in the message it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Segment:
    """Text found in one place of a message.

    ``location`` follows the scan contract: ``subject``, ``body``, ``header:to``,
    ``attachment:bundle.zip/report.docx``.
    """

    location: str
    text: str
    #: how the text was read when not from the file's own text: ``"ocr"`` (read off an
    #: image, so with OCR's confusions: ``0/O``, ``1/l/I``, ``5/S``, ``rn/m``)
    reading: str = ""
    #: why a reader of the file would not see this text although it is in the file:
    #: ``"redaction"`` (under an opaque shape, in the background's colour, clipped away)
    hidden: str = ""


#: ``Segment.reading`` of text read off an image
OCR = "ocr"
#: ``Segment.hidden`` of text a redaction meant to hide and did not remove
REDACTION = "redaction"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A part that could not be read: encrypted, corrupt, or over a limit.

    ``reason`` is a short fixed phrase (``encrypted``, ``corrupt``, ``over size limit``,
    ``over time budget``...), never content from the message.
    """

    location: str
    reason: str


@dataclass(frozen=True, slots=True)
class Extraction:
    """Everything the extractors got out of one message."""

    segments: tuple[Segment, ...]
    unreadable: tuple[Unreadable, ...] = ()
    #: names of MIME defects the parser recorded (for logs and policy, no content)
    defects: tuple[str, ...] = ()
    #: the location of every named thing seen (attachments, archive members and folders,
    #: whatever they hold), so that a file name is checked even when it yields no text
    names: tuple[str, ...] = ()
