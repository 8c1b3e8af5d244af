"""The console's own failure (an exception in a page) -> its styled 500 page, with the
security headers and without the exception's text."""

from __future__ import annotations

import asyncio
import types

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.console.app import Console, ConsoleSettings


async def _boom(request: Request) -> Response:
    raise RuntimeError("Flat 2, 14 Example Road")


def _get(path: str) -> httpx.Response:
    console = Console(types.SimpleNamespace(store=None), ConsoleSettings())  # type: ignore[arg-type]
    app = console.app()
    app.router.routes.insert(0, Route("/boom", _boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            return await client.get(path)

    return asyncio.run(get())


def test_a_failing_page_answers_with_the_styled_error_page() -> None:
    """An exception in a page is a 500 in the console's layout, its CSP set, and the
    exception's text (it may quote mail) is not shown."""
    response = _get("/boom")
    assert 500 == response.status_code
    assert "<h1>Something went wrong</h1>" in response.text
    assert '<link rel="stylesheet" href="/static/console.css">' in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "no-store" == response.headers["cache-control"]
    assert "Example Road" not in response.text
