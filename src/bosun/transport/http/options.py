"""Transport settings, resolved once when the ASGI app is built."""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """How the MCP endpoint behaves on the wire.

    `bind_host` is the address the server listens on: bound to loopback, Host and
    Origin must be local (DNS-rebinding protection); bound to anything else
    (a pod behind a Service or an ingress), any Host is accepted, so no setting is
    needed to deploy, and Origin must still be same-origin or listed.
    """

    path: str = "/mcp"
    bind_host: str = "127.0.0.1"
    allowed_origins: tuple[str, ...] = ()  # "*" allows any
    allowed_hosts: tuple[str, ...] = ()  # "*" disables the check
    max_body_bytes: int = 4 * 1024 * 1024
    session_idle_seconds: float = 1800.0
    max_sessions: int = 10_000
    max_sessions_per_client: int = 100
    client_request_timeout: float = 300.0
    keepalive_seconds: float = 15.0
    max_streams: int = 500  # open SSE streams (GET streams, listens, streamed POSTs) before new ones get 503
    max_batch: int = 100  # items in one 2025-03-26 JSON-RPC batch
    request_memory_bytes: int = 192 * 1024 * 1024  # estimated decoded size of all requests being served at once

    @property
    def loopback(self) -> bool:
        return is_loopback(self.bind_host)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one HTTP connection may hold or send (enforced by `transport.connection`).

    The defaults fit a pod with 512 MiB and a descriptor limit of 1,024 or more.
    """

    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0  # the whole head, from the connection opening or the request's first byte
    body_timeout: float = 30.0  # the whole body, from the end of the head
    max_connections: int = 1000
    linger_bytes: int = 64 * 1024 * 1024  # the rest of a refused body read and discarded before closing
    linger_seconds: float = 5.0  # at most this long reading and discarding after a refusal, before closing
