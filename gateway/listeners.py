"""receive: the listening sockets of ``gateway serve`` (SMTP, console, metrics), bound
before anything else is touched.

A port in use is the commonest first-day mistake; found at the start, it stops the
gateway with one line naming the address, before a key, a store or a register import
is made, so a second try starts from the same clean state.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from gateway.errors import ConfigError
from gateway.settings import Settings


def listening(host: str, port: int, what: str) -> socket.socket:
    """A bound, non-blocking TCP socket; a ``ConfigError`` naming ``what`` and the
    address when it cannot be had.  The server that serves it listens on it: until
    then a client is refused at once, rather than queued (a port that accepts is a
    gateway that answers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(f"{what}: cannot listen on {host}:{port} ({reason})") from None
    sock.setblocking(False)
    return sock


@dataclass
class Listeners:
    """The sockets the settings ask for: SMTP always, the console and metrics if set."""

    smtp: socket.socket
    console: socket.socket | None = None
    metrics: socket.socket | None = None

    @classmethod
    def bind(cls, settings: Settings) -> Listeners:
        """All of them, or none (the ones already bound are closed on a failure)."""
        made: list[socket.socket] = []
        try:
            smtp = listening(*settings.listen, "listen")
            made.append(smtp)
            console = None if settings.console is None else listening(*settings.console, "console")
            if console is not None:
                made.append(console)
            metrics = None if settings.metrics is None else listening(*settings.metrics, "metrics")
        except ConfigError:
            for sock in made:
                sock.close()
            raise
        return cls(smtp, console, metrics)

    def close(self) -> None:
        for sock in (self.smtp, self.console, self.metrics):
            if sock is not None:
                sock.close()
