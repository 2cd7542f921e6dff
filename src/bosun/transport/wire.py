"""Reading requests and writing plain responses at the ASGI level.

Deliberately below any framework: one pass over the raw header list, one body
read with a size cap, responses as pre-encoded header tuples.
"""

from __future__ import annotations

from typing import Any

from bosun.protocol.errors import INTERNAL_ERROR, INVALID_REQUEST, McpError
from bosun.protocol.jsonrpc import error_bytes
from bosun.types import Message, Receive, Scope, Send

JSON_HEADERS = ((b"content-type", b"application/json"),)
_WANTED = frozenset(
    {
        b"content-type",
        b"accept",
        b"origin",
        b"host",
        b"content-length",
        b"mcp-protocol-version",
        b"mcp-method",
        b"mcp-name",
        b"mcp-session-id",
        b"last-event-id",
        b"traceparent",
        b"authorization",
        b"x-api-key",
    }
)


# Headers that must appear at most once: with two, one reader (a proxy, a gateway, a log) may take the first while
# Bosun would take the last. Two credentials are ambiguous (RFC 6750 3.1: invalid_request, 400), two Host lines are
# a 400 by RFC 9112 3.2, and two session ids, protocol versions, methods or names would let whoever routes, audits
# or filters on the header see a different request than the one Bosun serves.
SINGLE = (b"authorization", b"x-api-key", b"host", b"mcp-session-id", b"mcp-protocol-version", b"mcp-method", b"mcp-name")


class Headers:
    """The request headers the transport looks at, decoded once.

    `repeated` names a header of `SINGLE` that came more than once (the transport answers 400). Finding it costs
    one addition per header read; the raw list is searched again only when some header came twice.
    """

    __slots__ = ("values", "params", "repeated")

    def __init__(self, scope: Scope) -> None:
        values: dict[bytes, str] = {}
        params: dict[str, str] | None = None
        seen = 0
        raw = scope["headers"]
        for name, raw_value in raw:  # ASGI servers give lower-case names
            # RFC 9110 5.5: optional whitespace around a field value is not part of it.
            if name in _WANTED:
                values[name] = raw_value.decode("latin-1").strip(" \t")
                seen += 1
            elif name.startswith(b"mcp-param-"):
                if params is None:
                    params = {}
                params[name[10:].decode("latin-1")] = raw_value.decode("latin-1").strip(" \t")
        self.values = values
        self.params = params
        self.repeated = _repeated(raw) if seen != len(values) else None

    def get(self, name: bytes) -> str | None:
        return self.values.get(name)


def _repeated(raw: Any) -> str | None:
    """The first header of `SINGLE` that appears more than once, or None (a repeated Accept is a list, and fine)."""
    names = [name for name, _ in raw]
    for name in SINGLE:
        if names.count(name) > 1:
            return name.decode()
    return None


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


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(send: Send, status: int, body: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = JSON_HEADERS) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_error(send: Send, status: int, error: McpError, request_id: Any = None,
                        headers: tuple[tuple[bytes, bytes], ...] = JSON_HEADERS) -> None:
    await respond(send, status, error_bytes(request_id, error), headers)


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


def accepts(accept: str | None, json: bool, sse: bool) -> bool:
    """Whether an Accept header covers the media types this response may use."""
    if accept is None:
        return False
    accept = accept.lower()
    wildcard = "*/*" in accept
    if json and not (wildcard or "application/json" in accept or "application/*" in accept):
        return False
    return not sse or wildcard or "text/event-stream" in accept or "text/*" in accept

