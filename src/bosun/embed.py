"""Embedding a server in an existing ASGI application (Starlette, FastAPI, anything that mounts ASGI apps).

    mcp = server.asgi_app()
    app = Starlette(routes=[Mount("/tools", app=mcp), Mount("/.well-known", app=server.well_known_app())],
                    lifespan=server.lifespan)

A mount serves MCP at /tools/mcp and the probes at /tools/health, /tools/ready, ...
(the app routes on the path below the mount's `root_path`). A mounted app receives no
lifespan events, so the host's lifespan runs the server's start-up and shutdown hooks:
`lifespan=server.lifespan`, or, with a lifespan of the host's own,

    @asynccontextmanager
    async def lifespan(app):
        async with server.lifespan(app):
            ...  # the host's own start-up
            yield

OAuth clients look for protected-resource metadata at the host's root
(/.well-known/oauth-protected-resource/tools/mcp, RFC 9728), outside the mount:
`well_known_app()` serves it there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bosun.asgi import reject
from bosun.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from bosun.transport.http.app import McpApp


@asynccontextmanager
async def run_hooks(app: McpApp) -> AsyncIterator[None]:
    """The server's start-up hooks on entry, its shutdown hooks on exit."""
    await app.startup()
    try:
        yield
    finally:
        await app.shutdown()


def well_known(routes: dict[str, ASGIApp]) -> ASGIApp:
    """An ASGI app answering the server's `/.well-known/...` documents by their full path, wherever it is mounted."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        root = scope.get("root_path") or ""
        route = routes.get(path if path.startswith(root) else root + path)  # older servers strip the mount's prefix
        if route is None:
            await reject(send, 404, "Not Found")
            return
        await route(scope, receive, send)

    return serve
