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


def decode(body: bytes) -> Any:
    """Decode a request body; malformed JSON is a -32700 with HTTP 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise McpError(PARSE_ERROR, f"Parse error: {exc}", http_status=400) from None


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

