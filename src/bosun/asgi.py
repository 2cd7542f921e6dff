"""Plain ASGI responses, for every part of Bosun that answers HTTP (the MCP endpoint, probes, metrics, mounts).

Deliberately below any framework and below the transport: pre-encoded header tuples and one
`send` per message. A refusal's body is a JSON-RPC error, so any client can read why, with the
request's id when the caller knows it.
"""

from __future__ import annotations

from typing import Any

from bosun.protocol.errors import INTERNAL_ERROR, INVALID_REQUEST, McpError
from bosun.protocol.jsonrpc import error_bytes
from bosun.types import Message, Send

JSON_HEADERS = ((b"content-type", b"application/json"),)


class Exchange:
    """One request's way back: its `send` adds the request id header (when given) to the response head and
    remembers the status, for the metrics. One object per request instead of a wrapper per concern."""

    __slots__ = ("_send", "_header", "status")

    def __init__(self, send: Send, header: tuple[bytes, bytes] | None) -> None:
        self._send = send
        self._header = header
        self.status = 0

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self._header is not None:
                message["headers"] = [*message.get("headers", ()), self._header]
        await self._send(message)


async def respond(send: Send, status: int, body: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = JSON_HEADERS) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_error(send: Send, status: int, error: McpError, request_id: Any = None,
                        headers: tuple[tuple[bytes, bytes], ...] = JSON_HEADERS) -> None:
    await respond(send, status, error_bytes(request_id, error), headers)


async def respond_store_error(send: Send, error: McpError, request_id: Any = None,
                              headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A store failed (sessions, resumable events): its own code (-32603 when unavailable), Retry-After on a 503,
    and the request's id, so the client knows which request to retry."""
    extra = ((b"retry-after", b"1"),) if error.http_status == 503 else ()
    await respond_error(send, error.http_status, error, request_id, headers=JSON_HEADERS + headers + extra)


async def reject(send: Send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = (),
                 request_id: Any = None) -> None:
    """A transport-level refusal: a JSON-RPC error body any client can read, carrying the request's id when
    it has a valid one (`response_id`), so a client can match the refusal to its request."""
    error = McpError(INVALID_REQUEST, message)
    await respond(send, status, error_bytes(request_id, error), JSON_HEADERS + headers)


async def too_many_streams(send: Send, limit: int, request_id: Any = None) -> None:
    """The answer when `limit` long-lived streams are already open: retryable, and counted by the caller."""
    error = McpError(INTERNAL_ERROR, f"Service Unavailable: {limit} streams are open (BOSUN_MAX_STREAMS); retry shortly")
    await respond(send, 503, error_bytes(request_id, error), JSON_HEADERS + ((b"retry-after", b"1"),))
