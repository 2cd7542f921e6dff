"""JSON-RPC 2.0 framing: classify a decoded message, serialize responses.

Parsing is orjson; a message is kept as the plain dict it decoded to, so the hot
path builds no model objects. Classification returns a small tag instead.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import orjson

from bosun.protocol.errors import INVALID_REQUEST, PARSE_ERROR, McpError

Kind = Literal["request", "notification", "response"]
JSONRPC: Final = "2.0"


MAX_DEPTH: Final = 64
"""How deeply a request's JSON may nest. Past it: -32600, HTTP 400. Every place that echoes, hashes or
serializes client data (error ids, argument digests, log lines) can then rely on a bounded depth."""


def parse_cost(body: bytes) -> int:
    """An upper estimate of the memory, in bytes, that decoding `body` takes, from a few counts done in C.

    Python objects cost far more than their JSON: a 4 MiB body of `{"a":1}` items decodes to about
    95 MB. Each container is charged 128 bytes, each string 28 (half the quotes), each element 32
    (the commas); measured against orjson on CPython 3.11 this bounds every shape from above.
    """
    size = len(body)
    if size <= _SMALL_BODY:
        return size * 64  # above the worst measured ratio (24x): not worth counting for a typical request
    return size + 128 * (body.count(b"{") + body.count(b"[")) + 14 * body.count(b'"') + 32 * body.count(b",")


_SMALL_BODY: Final = 1024


def decode(body: bytes) -> Any:
    """Decode a request body; malformed JSON is a -32700 with HTTP 400, JSON nested past MAX_DEPTH a -32600."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise McpError(PARSE_ERROR, f"Parse error: {exc}", http_status=400) from None
    # Counting brackets (in C) bounds the depth from above; only a body that could be too deep is measured.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and too_deep(message):
        raise McpError(INVALID_REQUEST, f"Invalid Request: JSON nested deeper than {MAX_DEPTH} levels", http_status=400)
    return message


_SERIALIZER_DEPTH: Final = 254  # orjson refuses to serialize containers nested deeper than this


def too_deep(value: Any) -> bool:
    """Whether decoded JSON nests containers more than MAX_DEPTH levels deep.

    Walking a large body in Python costs about a second per 4 MiB; orjson's serializer walks it in C
    (about 15 ms) and refuses past 254 levels. Wrapped in 254 - MAX_DEPTH lists, the value serializes
    exactly when its own depth is at most MAX_DEPTH.
    """
    wrapped = value
    for _ in range(_SERIALIZER_DEPTH - MAX_DEPTH):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except TypeError as exc:
        return "recursion" in str(exc).lower()
    return False


def response_id(message: Any) -> str | int | None:
    """The id to answer with: the request's, if it is a valid one; never an arbitrary client value."""
    request_id = message.get("id") if type(message) is dict else None
    return request_id if valid_id(request_id) else None


def valid_id(value: object) -> bool:
    """MCP ids are strings or integers, never null, bool or float."""
    kind = type(value)
    return kind is str or kind is int


def classify(message: Any) -> Kind:
    """Say what a decoded message is, or raise -32600 for anything that is not JSON-RPC 2.0."""
    if type(message) is not dict or message.get("jsonrpc") != JSONRPC:
        raise McpError(INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message", http_status=400)
    method = message.get("method")
    if method is not None:
        if type(method) is not str:
            raise McpError(INVALID_REQUEST, "Invalid Request: 'method' must be a string", http_status=400)
        params = message.get("params")
        if params is not None and type(params) is not dict:
            raise McpError(INVALID_REQUEST, "Invalid Request: 'params' must be an object", http_status=400)
        if "id" not in message:
            return "notification"
        if not valid_id(message["id"]):
            raise McpError(INVALID_REQUEST, "Invalid Request: 'id' must be a string or an integer", http_status=400)
        return "request"
    if "id" in message and ("result" in message or "error" in message):
        return "response"
    raise McpError(INVALID_REQUEST, "Invalid Request: neither a request, a notification nor a response", http_status=400)


def result_bytes(request_id: object, result: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": JSONRPC, "id": request_id, "result": result})


def error_bytes(request_id: object, error: McpError) -> bytes:
    message: dict[str, Any] = {"jsonrpc": JSONRPC, "error": error.to_error()}
    if request_id is not None:
        message["id"] = request_id
    return orjson.dumps(message)


def error_message(request_id: object, error: McpError) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": JSONRPC, "error": error.to_error()}
    if request_id is not None:
        message["id"] = request_id
    return message

