"""Log pipeline: structlog JSON lines that can only carry values known to be safe.

Every key not on the allow-list is replaced by ``[redacted]`` before rendering, so a
careless ``log.info("...", text=...)`` cannot put a protected value in a log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

SAFE_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "action",
        "rules",
        "case",
        "cases",
        "kind",
        "kinds",
        "rule",
        "message_id",
        "file",
        "elapsed_ms",
        "count",
        "error",
        "reason",
        "location",
        "severity",
        "records",
        "keys",
        "seconds",
        "path",
        "version",
        "upstream_id",
        "queue_id",
        "source",
        "status",
        "stamps",  # counts of a looping message's stamps and Received headers
        "hops",
    }
)
REDACTED = "[redacted]"


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace every value whose key is not known to be safe."""
    for key in list(event):
        if key not in SAFE_KEYS:
            event[key] = REDACTED
    return event


def configure(level: str = "warning", stream: TextIO | None = None) -> None:
    """Set up structlog once, from the CLI; nothing is configured at import time."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
