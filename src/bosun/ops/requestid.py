"""X-Request-Id: taken from the caller (when sane) or generated, echoed on the response, put on logs."""

from __future__ import annotations

import os

from bosun.ops.logs import request_id
from bosun.types import ASGIApp, Message, Receive, Scope, Send

_MAX_LENGTH = 128
_ALLOWED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/+=")


def _accept(value: bytes) -> bool:
    return 0 < len(value) <= _MAX_LENGTH and all(byte in _ALLOWED for byte in value)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":  # ASGI header names are lower-case
                rid = value if _accept(value) else None
                break
        if rid is None:
            rid = os.urandom(8).hex().encode()
        header = (b"x-request-id", rid)
        token = request_id.set(rid.decode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
