"""What a function raises to tell the client something, and what an unexpected failure becomes.

A message the client should read is raised on purpose: `ToolError` (the model sees it as
an `isError` result), `ResourceNotFound`, `ResourceError`, `PromptError`. Anything else a
function raises is a bug or an outage whose text may hold SQL, parameters, paths or
secrets: it is logged with its traceback under the request id, and the client gets a
generic message carrying that id, so a user's report can be matched to the log line.
`BOSUN_ERROR_DETAILS=true` (the default under `bosun dev`) adds the exception's type and
text to the message, for development only.
"""

from __future__ import annotations

import logging
from typing import Any

from bosun.ops.logs import request_id
from bosun.protocol.errors import INTERNAL_ERROR, INVALID_PARAMS, McpError, bounded

log = logging.getLogger("bosun.errors")


class ToolError(Exception):
    """Raise from a tool to report a failure the model should see (an `isError` result with this message)."""


class ResourceNotFound(McpError):
    """Raise from a resource (typically a template) when nothing exists at the URI: the spec's -32602 with the URI.

    The URI may be left out: the error always names the one the client asked for.
    """

    def __init__(self, uri: str | None = None, message: str | None = None) -> None:
        super().__init__(INVALID_PARAMS, message or f"Resource not found: {bounded(str(uri))}", {"uri": uri})
        self.custom_message = message


class ResourceError(McpError):
    """Raise from a resource to fail the read with this message for the client (-32603 unless `code` says otherwise)."""

    def __init__(self, message: str, data: Any = None, code: int = INTERNAL_ERROR) -> None:
        super().__init__(code, message, data)


class PromptError(McpError):
    """Raise from a prompt to fail `prompts/get` with this message for the client (-32603 unless `code` says otherwise)."""

    def __init__(self, message: str, data: Any = None, code: int = INTERNAL_ERROR) -> None:
        super().__init__(code, message, data)


def unexpected(what: str, failure: BaseException, details: bool) -> tuple[str, dict[str, Any]]:
    """Log `failure` with its traceback; return the client's message and error data.

    The message names what failed and the request id, never the exception's text unless
    `details` (development) asks for it.
    """
    rid = request_id.get()
    log.error("%s raised %s", what, type(failure).__name__, exc_info=failure)
    message = f"{what} failed unexpectedly"
    data: dict[str, Any] = {}
    if rid is not None:
        message += f" (request id {rid}; the server's log has the details)"
        data["requestId"] = rid
    if details:
        message += f": {type(failure).__name__}: {failure}"
    return message, data


def unexpected_error(what: str, failure: BaseException, details: bool) -> McpError:
    """`unexpected` as a JSON-RPC error: -32603 in a 200 response, never an HTTP 500."""
    message, data = unexpected(what, failure, details)
    return McpError(INTERNAL_ERROR, message, data or None)
