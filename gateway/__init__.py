"""Safe-Address Gateway: holds outgoing mail that would carry a protected detail
to the wrong person."""

__version__ = "0.1.0"
