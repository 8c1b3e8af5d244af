"""extract: raw message bytes -> ``Extraction`` (text segments with their location).

``extract`` never raises: what cannot be read becomes an ``Unreadable`` entry with a
fixed reason, and the caller holds the message as unscannable.
"""

from __future__ import annotations

from email.message import EmailMessage

from gateway.budget import Deadline
from gateway.extract.context import (
    OVER_SIZE,
    UNPARSEABLE,
    Context,
    Limits,
    OverBudget,
)
from gateway.extract.dispatch import read_blob
from gateway.extract.message import walk_message
from gateway.parse import is_unparseable, parse_message
from gateway.segments import Extraction, Unreadable

__all__ = ["Limits", "extract"]


def _result(ctx: Context) -> Extraction:
    return Extraction(
        tuple(ctx.segments), tuple(ctx.unreadable), tuple(ctx.defects), tuple(ctx.names)
    )


def extract(
    raw: bytes,
    limits: Limits | None = None,
    deadline: Deadline | None = None,
    parsed: EmailMessage | None = None,
) -> Extraction:
    """Every piece of text in ``raw`` with its location, within ``limits``; by
    ``deadline`` when given (a scan's, shared with matching), else within the time
    budget from now.  ``parsed``: ``parse_message(raw)``, when the caller has it."""
    at = 0.0 if deadline is None else deadline.at
    ctx = Context(limits or Limits(), deadline=at, read_blob=read_blob)
    if len(raw) > ctx.limits.max_message_bytes:
        return Extraction((), (Unreadable("message", OVER_SIZE),))
    try:
        message = parse_message(raw) if parsed is None else parsed
        if is_unparseable(message):
            return Extraction((), (Unreadable("message", UNPARSEABLE),))
        walk_message(ctx, message, "", 0)
    except OverBudget as stop:
        ctx.fail("message", stop.reason)
    except Exception:
        ctx.fail("message", UNPARSEABLE)
    return _result(ctx)
