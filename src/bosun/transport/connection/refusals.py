"""What the connection layer answers when it refuses a request itself, and how it says so in the log.

These answers are written before (or instead of) the application seeing the
request: a head too large or too slow, malformed HTTP, every connection busy.
Each is a complete HTTP response with a JSON-RPC error body, so any client can
read why.
"""

from __future__ import annotations

import logging

import orjson

from bosun.ops.logs import Throttled
from bosun.types import Receive, Scope, Send

log = logging.getLogger("bosun.connections")
_refusals: dict[int, Throttled] = {}


def refusal(status: int, reason: bytes, message: str) -> bytes:
    body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, reason, len(body))) + body


_OVER_CAPACITY = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {
    "code": -32603, "message": "Service Unavailable: every connection is busy; retry shortly"}})


async def over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": _OVER_CAPACITY})


def log_refusal(status: int, client: tuple[str, int] | None) -> None:
    """Say that the connection layer refused or cut a request: at most once per 30 s per status, with a count,
    since a flood of them (a slowloris, a scanner) must not become a log line each."""
    throttled = _refusals.get(status)
    if throttled is None:
        throttled = _refusals[status] = Throttled(log)
    throttled.warning("connection-level refusal: HTTP %d to %s", status, client[0] if client else "an unknown peer")
