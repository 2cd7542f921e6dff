"""Single-process metrics: plain counters on the event loop, metric families built at scrape time.

Everything that records runs on the event-loop thread (sync tools run in threads,
but their metrics are recorded by the loop after they return), so no locks are
needed; the collector reads a consistent-enough snapshot, as a scrape always does.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Container, Iterator
from typing import Any

from bosun.ops.metrics import BUCKETS, build_labels, code_label, method_label


class _Histogram:
    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0


class LocalMetrics:
    def __init__(self) -> None:
        from prometheus_client import REGISTRY

        self._tools: Container[str] = frozenset()
        self.requests: dict[tuple[str, str], int] = {}
        self.request_durations: dict[str, _Histogram] = {}
        self.tool_calls: dict[tuple[str, str], int] = {}
        self.tool_durations: dict[str, _Histogram] = {}
        self.errors: dict[str, int] = {}
        self.inflight_now = 0
        self.streams_now = 0
        self.sessions_now = 0
        self.checks: dict[tuple[str, str], int] = {}
        self.ready_now = 0
        self.build: tuple[str, str, str, str] | None = None
        self._request_keys: dict[tuple[str, int], tuple[tuple[str, str], _Histogram]] = {}
        self._tool_keys: dict[tuple[str, str], tuple[tuple[str, str], _Histogram]] = {}
        REGISTRY.register(_Collector(self))

    def describe_server(self, name: str, version: str, tools: Container[str]) -> None:
        """`tools` is the live registry, so a tool added at run time gets its own series."""
        self._tools = tools
        self.build = build_labels(name, version)

    # Observer.
    def request(self, method: str, status: int, seconds: float) -> None:
        found = self._request_keys.get((method, status))
        if found is None:
            label = method_label(method)
            found = ((label, str(status)), self.request_durations.setdefault(label, _Histogram()))
            self._request_keys[(method, status)] = found
        key, histogram = found
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram.counts[bisect_left(BUCKETS, seconds)] += 1
        histogram.total += seconds

    def error(self, code: int) -> None:
        label = code_label(code)
        self.errors[label] = self.errors.get(label, 0) + 1

    def tool(self, name: str, outcome: str, seconds: float) -> None:
        found = self._tool_keys.get((name, outcome))
        if found is None:
            label = name if name in self._tools else "unknown"
            found = ((label, outcome), self.tool_durations.setdefault(label, _Histogram()))
            self._tool_keys[(name, outcome)] = found
        key, histogram = found
        self.tool_calls[key] = self.tool_calls.get(key, 0) + 1
        histogram.counts[bisect_left(BUCKETS, seconds)] += 1
        histogram.total += seconds

    def inflight(self, delta: int) -> None:
        self.inflight_now += delta

    def stream(self, delta: int) -> None:
        self.streams_now += delta

    def session(self, delta: int) -> None:
        self.sessions_now += delta

    def check(self, name: str, critical: bool, ok: bool) -> None:
        self.checks[(name, str(critical).lower())] = 1 if ok else 0

    def set_ready(self, ok: bool) -> None:
        self.ready_now = 1 if ok else 0


def _histogram(name: str, documentation: str, label: str, series: dict[str, _Histogram]) -> Any:
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, histogram in list(series.items()):
        running, buckets = 0, []
        for bound, count in zip((*BUCKETS, float("inf")), histogram.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        family.add_metric([value], buckets, histogram.total)
    return family


class _Collector:
    def __init__(self, local: LocalMetrics) -> None:
        self.local = local

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        local = self.local
        requests = CounterMetricFamily("mcp_requests", "MCP HTTP requests by JSON-RPC method and HTTP status",
                                       labels=["method", "status"])
        for labels, count in list(local.requests.items()):
            requests.add_metric(list(labels), count)
        yield requests
        yield _histogram("mcp_request_duration_seconds", "Time to answer an MCP request", "method", local.request_durations)
        tools = CounterMetricFamily("mcp_tool_calls", "Tool calls by tool and outcome (ok, error, input_required, exception)",
                                    labels=["tool", "outcome"])
        for labels, count in list(local.tool_calls.items()):
            tools.add_metric(list(labels), count)
        yield tools
        yield _histogram("mcp_tool_duration_seconds", "Time spent in a tool", "tool", local.tool_durations)
        errors = CounterMetricFamily("mcp_errors", "JSON-RPC errors answered, by code", labels=["code"])
        for code, count in list(local.errors.items()):
            errors.add_metric([code], count)
        yield errors
        yield GaugeMetricFamily("mcp_inflight_requests", "MCP requests being handled", value=local.inflight_now)
        yield GaugeMetricFamily("mcp_open_streams", "Open SSE streams (responses, GET streams, subscriptions)",
                                value=local.streams_now)
        yield GaugeMetricFamily("mcp_sessions_active", "Open 2025-era sessions", value=local.sessions_now)
        checks = GaugeMetricFamily("mcp_readiness_check", "1 if a readiness check passes, 0 if it fails",
                                   labels=["check", "critical"])
        for labels, value in list(local.checks.items()):
            checks.add_metric(list(labels), value)
        yield checks
        yield GaugeMetricFamily("mcp_ready", "1 if this process reports ready", value=local.ready_now)
        if local.build is not None:
            build = GaugeMetricFamily("bosun_build_info", "Build information",
                                      labels=["version", "python", "server", "server_version"])
            build.add_metric(list(local.build), 1)
            yield build
