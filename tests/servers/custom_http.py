"""A standalone server with a route and a middleware of its own, for tests/test_embedding.py."""

from __future__ import annotations

import orjson

from bosun import Server
from bosun.types import ASGIApp, Message, Receive, Scope, Send

server = Server("custom", "2.0.0")


@server.tool()
def add(a: int, b: int) -> int:
    return a + b


@server.route("/version")
async def version(scope: Scope, receive: Receive, send: Send) -> None:
    body = orjson.dumps({"name": server.name, "version": server.version})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


class ServedBy:
    """An ordinary ASGI middleware: adds a header to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-served-by", b"custom-middleware")]
            await send(message)

        await self.app(scope, receive, tagged)


server.add_middleware(ServedBy)
