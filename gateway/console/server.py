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


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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
