"""review (console): ``Console`` -> an HTTP(S) server on the gateway's own event loop.

uvicorn serves it inside ``gateway serve``; its own signal handling is switched off so
that SIGTERM stays with the gateway, which stops the console as part of its shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from gateway.console.app import Console
from gateway.errors import ConfigError


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_console(host: str, port: int) -> socket.socket:
    """The console's listening socket, made before serving so that a port in use stops
    the gateway at start with a clear error (uvicorn would exit on its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"console: cannot listen on {host}:{port} ({exc.strerror})") from exc
    sock.setblocking(False)
    return sock


async def serve_console(
    console: Console,
    sock: socket.socket,
    stop: asyncio.Event,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve on ``sock`` until ``stop`` is set."""
    config = uvicorn.Config(
        console.app(),
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await serving
