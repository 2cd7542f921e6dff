"""JSON-RPC and MCP error codes, and the one exception type that carries them.

Handlers raise `McpError`; the transport turns it into an error response with
the right HTTP status. Keeping the status next to the code means no layer above
has to remember which error maps to 400 and which to 404.
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# 2025-era codes (session transport); the modern era must not emit these.
LEGACY_RESOURCE_NOT_FOUND = -32002
LEGACY_URL_ELICITATION_REQUIRED = -32042
# Bosun's own codes (the implementation-defined range) for refusals that HTTP also signals.
UNAUTHORIZED = -32001  # HTTP 401: no valid credential
FORBIDDEN = -32003  # HTTP 403: the credential lacks a scope the operation needs
RATE_LIMITED = -32029  # HTTP 429: over a rate limit; retry after `data.retryAfter` seconds
# Codes the 2026-07-28 specification reserves for itself.
HEADER_MISMATCH = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022


SHOWN_CHARS = 200  # how much of a client's string an error message repeats


def bounded(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` as an error message may repeat it: cut at `limit` characters, saying how long it was.

    A message that echoes what the client sent (an unknown method, a mismatched header, a tool name)
    would otherwise hand back a megabyte for a megabyte, and carry it into logs and challenges."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class McpError(Exception):
    """A failure that becomes a JSON-RPC error response.

    `http_status` is what the modern Streamable HTTP transport answers with; the
    session transport answers most protocol errors inside a 200 response.
    """

    __slots__ = ("code", "message", "data", "http_status")

    def __init__(self, code: int, message: str, data: Any = None, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def method_not_found(method: str) -> McpError:
    return McpError(METHOD_NOT_FOUND, f"Method not found: {bounded(method)}", http_status=404)


def invalid_params(message: str, data: Any = None, http_status: int = 200) -> McpError:
    """-32602. Inside a handler it is an ordinary JSON-RPC error (HTTP 200); a malformed envelope is a 400."""
    return McpError(INVALID_PARAMS, message, data, http_status=http_status)


def internal_error(request_id: str | None = None) -> McpError:
    """What the client sees of a failure nothing else caught: no traceback, no internals, and HTTP 200 like
    any handler error (a 500 would read as a broken server to proxies and retry logic). The request id
    matches the log line that has the traceback."""
    if request_id is None:
        return McpError(INTERNAL_ERROR, "Internal error")
    return McpError(INTERNAL_ERROR, f"Internal error (request id {request_id})", {"requestId": request_id})


def header_mismatch(message: str) -> McpError:
    return McpError(HEADER_MISMATCH, f"Header mismatch: {message}", http_status=400)


def unsupported_version(requested: object, supported: list[str]) -> McpError:
    return McpError(
        UNSUPPORTED_PROTOCOL_VERSION,
        f"Unsupported protocol version {str(requested)[:40]!r}; supported: {', '.join(supported)}",
        {"supported": supported, "requested": requested},
        http_status=400,
    )


def missing_capability(*capabilities: str) -> McpError:
    required: dict[str, dict[str, Any]] = {name: {} for name in capabilities}
    return McpError(
        MISSING_REQUIRED_CLIENT_CAPABILITY,
        f"Missing required client capability: {', '.join(capabilities)}",
        {"requiredCapabilities": required},
        http_status=400,
    )
