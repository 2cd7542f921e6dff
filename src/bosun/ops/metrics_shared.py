"""prometheus_client's multiprocess-safe metrics, for servers with several workers.

Their values live in memory-mapped files that every worker writes and any scrape adds up; each write takes
a lock and packs a number into the file. Done for every request (a counter, a histogram, the in-flight gauge
up and down, and the same for the tool), that cost 17 % of a small request's throughput. So the per-request
series are counted in plain memory, as in one process (metrics_local), and written to the files at most
once a second, when there is something to write: a scrape sees another worker's requests up to a second
late, and a scrape answered by this worker, or its exit, writes its own first.
"""

from __future__ import annotations

import asyncio
import atexit
from collections.abc import Container
from typing import Any

from bosun.ops.metrics_core import BUCKETS, Histogram, Timed, build_labels, code_label, event_label, method_label, refusal_labels

FLUSH_SECONDS = 1.0


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
        self._requests = Timed()  # counted since the last flush
        self._tool_calls = Timed()
        self._errors: dict[str, int] = {}
        self._inflight = 0
        self._flush_due = False
        atexit.register(self.flush)

    def describe_server(self, name: str, version: str, tools: Container[str]) -> None:
        """`tools` is the live registry, so a tool added at run time gets its own series."""
        self._tools = tools
        self.build.labels(*build_labels(name, version)).set(1)

    # Observer: the per-request series, in memory until the next flush.
    def request(self, method: str, status: int, seconds: float) -> None:
        self._requests.record(method, status, seconds, method_label)
        if not self._flush_due:
            self._schedule_flush()

    def error(self, code: int) -> None:
        label = code_label(code)
        self._errors[label] = self._errors.get(label, 0) + 1

    def tool(self, name: str, outcome: str, seconds: float) -> None:
        self._tool_calls.record(name, outcome, seconds, self._tool_label)

    def _tool_label(self, name: str) -> str:
        return name if name in self._tools else "unknown"

    def inflight(self, delta: int) -> None:
        self._inflight += delta
        if not self._flush_due:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside a loop (a test, a script): write at once
            self.flush()
            return
        self._flush_due = True
        loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write what was counted since the last flush to the shared files."""
        self._flush_due = False
        requests, self._requests = self._requests, Timed()
        tools, self._tool_calls = self._tool_calls, Timed()
        errors, self._errors = self._errors, {}
        for (label, status), count in requests.counts.items():
            self.requests.labels(label, status).inc(count)
        for label, histogram in requests.histograms.items():
            _add_observations(self.duration.labels(label), histogram)
        for (label, outcome), count in tools.counts.items():
            self.tool_calls.labels(label, outcome).inc(count)
        for label, histogram in tools.histograms.items():
            _add_observations(self.tool_duration.labels(label), histogram)
        for label, count in errors.items():
            self.errors.labels(label).inc(count)
        self.inflight_requests.set(self._inflight)

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


def _add_observations(child: Any, histogram: Histogram) -> None:
    """Add a batch of observations to a prometheus_client histogram series.

    Its public API takes one observation at a time; a batch is added to its bucket and sum values (the
    layout of prometheus_client's Histogram, pinned in the lock files; tests/test_metrics_and_logs.py reads the
    sums back across workers). Both use the same buckets, bounds included: `le` is "at or below".
    """
    for bucket, count in zip(child._buckets, histogram.counts, strict=True):
        if count:
            bucket.inc(count)
    child._sum.inc(histogram.total)
