"""review (console): a parsed message + what the extractors read -> its attachments' facts.

Name, declared type, size, and what the scan made of each: read, read off images by
OCR, or not readable (with the extractor's fixed reason).  Shown apart from the text,
so a reviewer sees at a glance what is attached and whether any of it went unread.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from gateway.segments import OCR, Extraction

_PREFIX = "attachment:"


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int  # decoded bytes
    read: bool = False  # some text was read from it (or from what it holds)
    ocr: bool = False  # some of that text was read off images
    unreadable: tuple[str, ...] = ()  # the reasons parts of it could not be read

    @property
    def size_text(self) -> str:
        if self.size < 1024:
            return f"{self.size} bytes"
        if self.size < 1024 * 1024:
            return f"{self.size / 1024:.1f} KB"
        return f"{self.size / (1024 * 1024):.1f} MB"

    @property
    def outcome(self) -> str:
        """What the scan made of it, in words."""
        if self.unreadable:
            reasons = ", ".join(dict.fromkeys(self.unreadable))
            some = "parts of it " if self.read else ""
            return f"{some}could not be read ({reasons})".capitalize()
        if self.ocr:
            return "Read, partly by OCR (text in images)"
        return "Read" if self.read else "Read: no text in it"


def attachments(message: Message, extraction: Extraction) -> tuple[Attachment, ...]:
    """Every attachment of ``message`` (not descending into attached messages, which
    count as one attachment), with what ``extraction`` read of it."""
    out = []
    for part, number in _attached(message):
        name = _name(part) or f"part{number}.bin"
        location = _PREFIX + name.replace("/", "_")
        under = (location, location + "/", location + "#")
        segments = [s for s in extraction.segments if _inside(s.location, under)]
        failed = tuple(u.reason for u in extraction.unreadable if _inside(u.location, under))
        out.append(
            Attachment(
                name,
                part.get_content_type(),
                _size(part),
                read=bool(segments),
                ocr=any(s.reading == OCR for s in segments),
                unreadable=failed,
            )
        )
    return tuple(out)


def _attached(message: Message) -> list[tuple[Message, int]]:
    """The leaves that are attachments, with their leaf number (the extractors name an
    unnamed attachment ``part<N>.bin`` after it)."""
    found: list[tuple[Message, int]] = []
    leaves = 0

    def walk(part: Message) -> None:
        nonlocal leaves
        payload = part.get_payload()
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            for sub in payload if isinstance(payload, list) else ():
                if isinstance(sub, Message):
                    walk(sub)
            return
        leaves += 1
        body = part.get_content_maintype() == "text" and part.get_content_disposition() != (
            "attachment"
        )
        if not body or _name(part):
            found.append((part, leaves))

    walk(message)
    return found


def _size(part: Message) -> int:
    """Decoded bytes of a leaf; an attached message's as it stands."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return len(payload)
    inner = part.get_payload()
    if isinstance(inner, list):
        return sum(len(m.as_bytes()) for m in inner if isinstance(m, Message))
    return len(str(inner).encode("utf-8", "surrogateescape"))


def _name(part: Message) -> str:
    try:
        return str(part.get_filename() or "").strip()
    except Exception:  # a malformed parameter: the part is still listed, unnamed
        return ""


def _inside(location: str, under: tuple[str, ...]) -> bool:
    return location == under[0] or location.startswith(under[1:])
