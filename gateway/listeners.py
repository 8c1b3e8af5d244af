"""receive: the listening sockets of ``gateway serve`` (SMTP, console, metrics), bound
before anything else is touched.

A port in use is the commonest first-day mistake; found at the start, it stops the
gateway with one line naming the address, before a key, a store or a register import
is made, so a second try starts from the same clean state.
"""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigError
from gateway.settings import Settings, parse_milter, parse_mode


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


def listening_unix(
    path: Path, what: str, mode: str = "0660", group: str | None = None
) -> socket.socket:
    """A bound, non-blocking Unix socket at ``path`` with ``mode`` (octal text) and
    ``group`` (a name or number; None: left as created); a stale socket file left by
    an earlier run is replaced, anything else at that path is refused.

    The MTA connects as its own user (Postfix's smtpd runs as ``postfix``): without
    the group's write permission on the socket, every message would be tempfailed."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConfigError(f"{what}: {path} exists and is not a socket")
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(f"{what}: cannot listen on unix:{path} ({reason})") from None
    try:
        _permit(path, mode, group)
    except ConfigError:
        sock.close()
        path.unlink(missing_ok=True)
        raise
    sock.setblocking(False)
    return sock


def _permit(path: Path, mode: str, group: str | None) -> None:
    """chown to ``group`` (if given), then chmod to ``mode``: errors name the setting."""
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise ConfigError(f"milter_socket_group: no group {group!r}") from None
        try:
            os.chown(path, -1, gid)
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(
                f"milter_socket_group: cannot give {path} to group {group!r} ({reason})"
            ) from None
    try:
        os.chmod(path, int(parse_mode(mode), 8))
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(f"milter_socket_mode: cannot set the mode of {path} ({reason})") from None


def milter_listening(value: str, mode: str = "0660", group: str | None = None) -> socket.socket:
    """The milter's socket, from ``unix:/path`` (with ``mode`` and ``group``) or
    ``inet:HOST:PORT``."""
    where = parse_milter(value)
    if isinstance(where, Path):
        return listening_unix(where, "milter", mode, group)
    return listening(*where, "milter")


@dataclass
class Listeners:
    """The sockets the settings ask for: SMTP (unless milter only), the milter, the
    console and metrics if set."""

    smtp: socket.socket | None
    console: socket.socket | None = None
    metrics: socket.socket | None = None
    milter: socket.socket | None = None

    @classmethod
    def bind(cls, settings: Settings, smtp_proxy: bool = True) -> Listeners:
        """All of them, or none (the ones already bound are closed on a failure)."""
        made: list[socket.socket] = []
        try:
            smtp = listening(*settings.listen, "listen") if smtp_proxy else None
            if smtp is not None:
                made.append(smtp)
            milter = (
                None
                if settings.milter is None
                else milter_listening(
                    settings.milter, settings.milter_socket_mode, settings.milter_socket_group
                )
            )
            if milter is not None:
                made.append(milter)
            console = None if settings.console is None else listening(*settings.console, "console")
            if console is not None:
                made.append(console)
            metrics = None if settings.metrics is None else listening(*settings.metrics, "metrics")
        except ConfigError:
            for sock in made:
                sock.close()
            raise
        return cls(smtp, console, metrics, milter)

    def close(self) -> None:
        for sock in (self.smtp, self.console, self.metrics, self.milter):
            if sock is not None:
                sock.close()
