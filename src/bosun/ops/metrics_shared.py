"""prometheus_client's multiprocess-safe metrics, for servers with several workers."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from bosun.ops.metrics import BUCKETS, build_labels, code_label, event_label, method_label, refusal_labels


class SharedMetrics:
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
        self.refusals = Counter("mcp_auth_refusals", "Requests refused by the security layer, by reason and HTTP status",
                                ["reason", "status"])
        self.evictions = Counter("mcp_sessions_evicted", "Sessions evicted to make room at BOSUN_MAX_SESSIONS(_PER_CLIENT)")
        self.events = Counter("bosun_security_events", "Security-layer events: key fetches, rate limiter fail-open", ["event"])
        self._tools: Container[str] = frozenset()
        self._request_children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._tool_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def describe_server(self, name: str, version: str, tools: Container[str]) -> None:
        """`tools` is the live registry, so a tool added at run time gets its own series."""
        self._tools = tools
        self.build.labels(*build_labels(name, version)).set(1)

    # Observer.
    def request(self, method: str, status: int, seconds: float) -> None:
        key = (method, status)
        children = self._request_children.get(key)
        if children is None:
            label = method_label(method)
            children = (self.requests.labels(label, str(status)), self.duration.labels(label))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def error(self, code: int) -> None:
        self.errors.labels(code_label(code)).inc()

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

    def check(self, name: str, critical: bool, ok: bool) -> None:
        self.readiness.labels(name, str(critical).lower()).set(1 if ok else 0)

    def set_ready(self, ok: bool) -> None:
        self.ready.set(1 if ok else 0)

    def session_evicted(self) -> None:
        self.evictions.inc()

    def refusal(self, reason: str, status: int) -> None:
        self.refusals.labels(*refusal_labels(reason, status)).inc()

    def security_event(self, name: str) -> None:
        self.events.labels(event_label(name)).inc()
