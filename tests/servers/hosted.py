"""Bosun mounted in an existing application, as tests/test_embedding.py serves it under plain uvicorn:
`hosted:starlette_app` (Starlette) or `hosted:fastapi_app` (FastAPI), MCP under /tools, the host's own routes
and lifespan beside it. HOSTED_MARKER names a file each lifespan step is written to."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from bosun import Context, Server

MARKER = Path(os.environ.get("HOSTED_MARKER", os.devnull))
server = Server("hosted", "1.0.0")


def _mark(step: str) -> None:
    with MARKER.open("a") as marker:
        marker.write(step + "\n")


@server.startup
async def opened() -> None:
    _mark("bosun started")


@server.shutdown
async def closed() -> None:
    _mark("bosun stopped")


@server.tool()
def add(a: int, b: int) -> int:
    return a + b


@server.tool()
async def whoami(ctx: Context) -> str:
    return ctx.auth.subject if ctx.auth is not None else "anonymous"


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The host's own lifespan, with the MCP server's hooks chained inside it."""
    _mark("host started")
    async with server.lifespan(app):
        yield
    _mark("host stopped")


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("the host app")


mcp = server.asgi_app()
starlette_app = Starlette(routes=[Route("/", home), Mount("/tools", app=mcp),
                                  Mount("/.well-known", app=server.well_known_app())], lifespan=lifespan)

fastapi_app = FastAPI(lifespan=lifespan)
fastapi_app.mount("/tools", mcp)
fastapi_app.mount("/.well-known", server.well_known_app())


@fastapi_app.get("/")
def fastapi_home() -> dict[str, str]:
    return {"host": "fastapi"}
