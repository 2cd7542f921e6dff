"""Single-process metrics: plain counters on the event loop, metric families built at scrape time.

Everything that records runs on the event-loop thread (sync tools run in threads,
but their metrics are recorded by the loop after they return), so no locks are
needed; the collector reads a consistent-enough snapshot, as a scrape always does.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from typing import Any

from bosun.ops.metrics_core import Histogram, Timed, add_collector, build_labels, code_label, event_label, method_label, refusal_labels


class LocalMetrics:
    def __init__(self) -> None:
        self._tools: Container[str] = frozenset()
        self.requests = Timed()
        self.tools = Timed()
        self.errors: dict[str, int] = {}
        self.inflight_now = 0
        self.streams_now = 0
        self.sessions_now = 0
        self.checks: dict[tuple[str, str], int] = {}
        self.ready_now = 0
        self.refusals: dict[tuple[str, str], int] = {}
        self.evictions = 0
        self.events: dict[str, int] = {}
        self.build: tuple[str, str, str, str] | None = None
        add_collector(_Collector(self))

    def describe_server(self, name: str, version: str, tools: Container[str]) -> None:
        """`tools` is the live registry, so a tool added at run time gets its own series."""
        self._tools = tools
        self.build = build_labels(name, version)

    # Observer.
    def request(self, method: str, status: int, seconds: float) -> None:
        self.requests.record(method, status, seconds, method_label)

    def error(self, code: int) -> None:
        label = code_label(code)
        self.errors[label] = self.errors.get(label, 0) + 1

    def tool(self, name: str, outcome: str, seconds: float) -> None:
        self.tools.record(name, outcome, seconds, self._tool_label)

    def _tool_label(self, name: str) -> str:
        return name if name in self._tools else "unknown"

    def inflight(self, delta: int) -> None:
        self.inflight_now += delta

    def stream(self, delta: int) -> None:
        self.streams_now += delta

    def session(self, delta: int) -> None:
        self.sessions_now += delta

    def session_evicted(self) -> None:
        self.evictions += 1

    def check(self, name: str, critical: bool, ok: bool) -> None:
        self.checks[(name, str(critical).lower())] = 1 if ok else 0

    def set_ready(self, ok: bool) -> None:
        self.ready_now = 1 if ok else 0

    def refusal(self, reason: str, status: int) -> None:
        key = refusal_labels(reason, status)
        self.refusals[key] = self.refusals.get(key, 0) + 1

    def security_event(self, name: str) -> None:
        label = event_label(name)
        self.events[label] = self.events.get(label, 0) + 1


def _histogram(name: str, documentation: str, label: str, series: dict[str, Histogram]) -> Any:
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, histogram in list(series.items()):
        family.add_metric([value], histogram.cumulative(), histogram.total)
    return family


class _Collector:
    def __init__(self, local: LocalMetrics) -> None:
        self.local = local

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        local = self.local
        requests = CounterMetricFamily("mcp_requests", "MCP HTTP requests by JSON-RPC method and HTTP status",
                                       labels=["method", "status"])
        for labels, count in list(local.requests.counts.items()):
            requests.add_metric(list(labels), count)
        yield requests
        yield _histogram("mcp_request_duration_seconds", "Time to answer an MCP request", "method", local.requests.histograms)
        tools = CounterMetricFamily("mcp_tool_calls", "Tool calls by tool and outcome (ok, error, input_required, exception)",
                                    labels=["tool", "outcome"])
        for labels, count in list(local.tools.counts.items()):
            tools.add_metric(list(labels), count)
        yield tools
        yield _histogram("mcp_tool_duration_seconds", "Time spent in a tool", "tool", local.tools.histograms)
        errors = CounterMetricFamily("mcp_errors", "JSON-RPC errors answered, by code", labels=["code"])
        for code, count in list(local.errors.items()):
            errors.add_metric([code], count)
        yield errors
        yield GaugeMetricFamily("mcp_inflight_requests", "MCP requests being handled", value=local.inflight_now)
        yield GaugeMetricFamily("mcp_open_streams", "Open SSE streams (responses, GET streams, subscriptions)",
                                value=local.streams_now)
        yield GaugeMetricFamily("mcp_sessions_active", "Open 2025-era sessions", value=local.sessions_now)
        yield CounterMetricFamily("mcp_sessions_evicted", "Sessions evicted to make room at BOSUN_MAX_SESSIONS(_PER_CLIENT)",
                                  value=local.evictions)
        checks = GaugeMetricFamily("mcp_readiness_check", "1 if a readiness check passes, 0 if it fails",
                                   labels=["check", "critical"])
        for labels, value in list(local.checks.items()):
            checks.add_metric(list(labels), value)
        yield checks
        yield GaugeMetricFamily("mcp_ready", "1 if this process reports ready", value=local.ready_now)
        refusals = CounterMetricFamily("mcp_auth_refusals", "Requests refused by the security layer, by reason and HTTP status",
                                       labels=["reason", "status"])
        for labels, count in list(local.refusals.items()):
            refusals.add_metric(list(labels), count)
        yield refusals
        events = CounterMetricFamily("bosun_security_events", "Security-layer events: key fetches, rate limiter fail-open",
                                     labels=["event"])
        for event, count in list(local.events.items()):
            events.add_metric([event], count)
        yield events
        if local.build is not None:
            build = GaugeMetricFamily("bosun_build_info", "Build information",
                                      labels=["version", "python", "server", "server_version"])
            build.add_metric(list(local.build), 1)
            yield build
