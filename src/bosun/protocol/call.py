"""`Call`: what one request carries into a handler, in one small slotted object.

Built once per request by the transport; handlers read it and never build their
own. Keeping it flat (no nested objects per request) keeps the hot path lean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bosun.protocol.errors import invalid_params
from bosun.protocol.principal import Principal

# Meta keys of the 2026-07-28 per-request envelope.
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

SendMessage = Callable[[dict[str, Any]], Awaitable[None]]

LOG_LEVELS: dict[str, int] = {
    "debug": 0,
    "info": 1,
    "notice": 2,
    "warning": 3,
    "error": 4,
    "critical": 5,
    "alert": 6,
    "emergency": 7,
}


class ClientChannel(Protocol):
    """A way to send requests to the client and await the answer (2025 sessions only)."""

    log_level: str | None

    async def request(self, method: str, params: dict[str, Any], send: SendMessage) -> dict[str, Any]: ...


class Call:
    """One request as handlers see it."""

    __slots__ = (
        "id",
        "method",
        "params",
        "meta",
        "version",
        "modern",
        "capabilities",
        "client_info",
        "log_level",
        "send",
        "channel",
        "principal",
        "close_stream",
        "task",
    )

    def __init__(
        self,
        request_id: Any,
        method: str,
        params: dict[str, Any],
        version: str,
        modern: bool,
        capabilities: dict[str, Any],
        send: SendMessage | None,
        channel: ClientChannel | None = None,
        client_info: dict[str, Any] | None = None,
        log_level: str | None = None,
    ) -> None:
        self.id = request_id
        self.method = method
        self.params = params
        meta = params.get("_meta")
        self.meta: dict[str, Any] = meta if type(meta) is dict else {}
        self.version = version
        self.modern = modern
        self.capabilities = capabilities
        self.client_info = client_info
        self.log_level = log_level
        self.send = send
        self.channel = channel
        self.principal: Principal | None = None  # set by the transport from what the security layer established
        # Set by a transport whose response stream the client can resume: ends it early (see Context.close_stream).
        self.close_stream: Callable[[], Awaitable[bool]] | None = None
        # Set by the tasks extension (bosun.tasks) for a call of a task tool: what `Context.report_status`, `detach`
        # and `task_cancelled` reach. None for every other call.
        self.task: Any = None

    def wants_log(self, level: str) -> bool:
        """Whether a log message at `level` may be sent for this request."""
        threshold = self.log_level
        if threshold is None:
            # Modern clients opt in per request; legacy sessions get everything until setLevel.
            return not self.modern
        return LOG_LEVELS.get(level, 0) >= LOG_LEVELS.get(threshold, 0)


def requested_level(params: dict[str, Any]) -> str:
    """The level a `logging/setLevel` request names (-32602 for anything else)."""
    level = params.get("level")
    if type(level) is not str or level not in LOG_LEVELS:
        raise invalid_params(f"Invalid log level; expected one of {', '.join(LOG_LEVELS)}")
    return level
