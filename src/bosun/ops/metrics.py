"""Prometheus metrics: the series Bosun exports, and `/metrics` in the text format.

Label values are bounded: methods outside the MCP method set count as `other`,
tools that are not registered as `unknown`, error codes outside the known set as
`other`, so a hostile client cannot mint series. Children are cached per label
tuple, so recording a request is a dict lookup and two cheap updates.

With several workers, prometheus_client's multiprocess mode is used: set
`PROMETHEUS_MULTIPROC_DIR` to a writable, empty directory before start-up (the
CLI does this for `--workers N`) and `/metrics` aggregates every worker's files.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Container
from typing import Any

from bosun.protocol.errors import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LEGACY_RESOURCE_NOT_FOUND,
    METHOD_NOT_FOUND,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from bosun.transport.wire import respond
from bosun.types import Receive, Scope, Send

KNOWN_METHODS = frozenset({
    "initialize", "ping", "server/discover", "tools/list", "tools/call", "resources/list", "resources/templates/list",
    "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
    "completion/complete", "logging/setLevel", "subscriptions/listen", "notification", "response", "batch", "invalid",
})
KNOWN_CODES = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR, HEADER_MISMATCH,
                         MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION, LEGACY_RESOURCE_NOT_FOUND})
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_instance: Metrics | None = None


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """Every series Bosun exports. One per process (`metrics()`); servers share it."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("mcp_requests", "MCP HTTP requests by JSON-RPC method and HTTP status", ["method", "status"])
        self.duration = Histogram("mcp_request_duration_seconds", "Time to answer an MCP request", ["method"], buckets=BUCKETS)
        self.tool_calls = Counter("mcp_tool_calls", "Tool calls by tool and outcome (ok, error, input_required, exception)",
                                  ["tool", "outcome"])
        self.tool_duration = Histogram("mcp_tool_duration_seconds", "Time spent in a tool", ["tool"], buckets=BUCKETS)
        self.inflight_requests = Gauge("mcp_inflight_requests", "MCP requests being handled", multiprocess_mode="livesum")
        self.open_streams = Gauge("mcp_open_streams", "Open SSE streams (responses, GET streams, subscriptions)",
                                  multiprocess_mode="livesum")
        self.sessions_active = Gauge("mcp_sessions_active", "Open 2025-era sessions", multiprocess_mode="livesum")
        self.errors = Counter("mcp_errors", "JSON-RPC errors answered, by code", ["code"])
        self.readiness = Gauge("mcp_readiness_check", "1 if a readiness check passes, 0 if it fails", ["check", "critical"],
                               multiprocess_mode="liveall")
        self.ready = Gauge("mcp_ready", "1 if this process reports ready", multiprocess_mode="liveall")
        self.build = Gauge("bosun_build_info", "Build information", ["version", "python", "server", "server_version"],
                           multiprocess_mode="max")
        self._tools: Container[str] = frozenset()
        self._request_children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._tool_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def describe_server(self, name: str, version: str, tools: Container[str]) -> None:
        """`tools` is the live registry, so a tool added at run time gets its own series."""
        from bosun import __version__

        self._tools = tools
        self.build.labels(__version__, platform.python_version(), name, version).set(1)

    # Observer.
    def request(self, method: str, status: int, seconds: float) -> None:
        key = (method, status)
        children = self._request_children.get(key)
        if children is None:
            label = method if method in KNOWN_METHODS else "other"
            children = (self.requests.labels(label, str(status)), self.duration.labels(label))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def error(self, code: int) -> None:
        self.errors.labels(str(code) if code in KNOWN_CODES else "other").inc()

    def tool(self, name: str, outcome: str, seconds: float) -> None:
        key = (name, outcome)
        children = self._tool_children.get(key)
        if children is None:
            label = name if name in self._tools else "unknown"
            children = (self.tool_calls.labels(label, outcome), self.tool_duration.labels(label))
            self._tool_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def inflight(self, delta: int) -> None:
        self.inflight_requests.inc(delta)

    def stream(self, delta: int) -> None:
        self.open_streams.inc(delta)

    def session(self, delta: int) -> None:
        self.sessions_active.inc(delta)


def metrics() -> Metrics:
    global _instance
    if _instance is None:
        _instance = Metrics()
    return _instance


async def metrics_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    body, content_type = exposition()
    await respond(send, 200, body, ((b"content-type", content_type.encode()),))


def exposition() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, aggregated across workers when there are several."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def start_ops_server(port: int, host: str = "0.0.0.0") -> None:
    """Serve `/metrics` on its own port from a daemon thread (works from the multi-worker supervisor too)."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
