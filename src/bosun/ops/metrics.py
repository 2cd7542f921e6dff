"""Prometheus metrics: the series Bosun exports, and `/metrics` in the text format.

Label values are bounded: methods outside the MCP method set count as `other`,
tools that are not registered as `unknown`, error codes outside the known set as
`other`, so a hostile client cannot mint series.

Two implementations of one recorder interface (`bosun.protocol.observe.Observer`):

* one process (the default): `LocalMetrics` keeps plain counters and bucket arrays,
  updated without locks on the event loop, and turns them into metric families only
  when scraped. Recording a request costs a couple of dict lookups and additions.
* several workers: prometheus_client's multiprocess mode (`SharedMetrics`), whose
  values live in files under `PROMETHEUS_MULTIPROC_DIR` (the CLI sets a fresh one
  for `--workers N`) so that one scrape adds up every worker.
"""

from __future__ import annotations

import logging
import os
import platform
from bisect import bisect_left
from collections.abc import Callable
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
from bosun.transport.wire import reject, respond
from bosun.types import ASGIApp, Receive, Scope, Send

KNOWN_METHODS = frozenset({
    "initialize", "ping", "server/discover", "tools/list", "tools/call", "resources/list", "resources/templates/list",
    "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
    "completion/complete", "logging/setLevel", "subscriptions/listen", "notification", "response", "batch", "invalid",
})
KNOWN_CODES = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR, HEADER_MISMATCH,
                         MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION, LEGACY_RESOURCE_NOT_FOUND})
REFUSAL_REASONS = frozenset({"missing_token", "invalid_token", "invalid_request", "insufficient_scope", "rate_limited",
                             "verifier_unavailable", "session_owner"})
SECURITY_EVENTS = frozenset({"jwks_fetched", "jwks_fetch_failed", "ratelimit_fail_open"})
log = logging.getLogger("bosun.ops")
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_instance: Any = None


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Histogram:
    """Bucket counts and a sum, updated without locks (event-loop only), exported at scrape time."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus `le` buckets, each counting everything at or below its bound."""
        running = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return buckets


class Timed:
    """A counter by (label, detail) and a histogram by label, fed by one call.

    Raw names are resolved to bounded labels once and remembered, so the hot path is two dict
    lookups and two additions. Only names that are their own label (a known method, a registered
    tool) are remembered: a name a client made up is resolved again each time, because remembering
    it would keep every distinct string a client ever sent (a unique 1 MiB method name per request
    kept 1 MiB each).
    """

    __slots__ = ("counts", "histograms", "_resolved")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.histograms: dict[str, Histogram] = {}
        self._resolved: dict[tuple[str, Any], tuple[tuple[str, str], Histogram]] = {}

    def record(self, name: str, detail: Any, seconds: float, label_of: Callable[[str], str]) -> None:
        found = self._resolved.get((name, detail))
        if found is None:
            label = label_of(name)
            found = ((label, str(detail)), self.histograms.setdefault(label, Histogram()))
            if label == name:
                self._resolved[(name, detail)] = found
        key, histogram = found
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram.observe(seconds)


_pending_collectors: list[Any] = []


def add_collector(collector: Any) -> None:
    """Have `collector` read at every scrape of the process's default registry.

    Registered with prometheus_client only when metrics are first exposed (`/metrics`, the metrics port):
    importing prometheus_client takes a tenth of a plain server's start-up, and one process serves
    requests long before anything scrapes it.
    """
    _pending_collectors.append(collector)


def default_registry() -> Any:
    """prometheus_client's default registry, with every collector Bosun added registered on it."""
    from prometheus_client import REGISTRY

    while _pending_collectors:
        REGISTRY.register(_pending_collectors.pop(0))
    return REGISTRY


def metrics() -> Any:
    """The process's recorder (created on first use; servers built in one process share it)."""
    global _instance
    if _instance is None:
        if multiprocess():
            from bosun.ops.metrics_shared import SharedMetrics

            _instance = SharedMetrics()
        else:
            from bosun.ops.metrics_local import LocalMetrics

            _instance = LocalMetrics()
    return _instance


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def code_label(code: int) -> str:
    return str(code) if code in KNOWN_CODES else "other"


def refusal_labels(reason: str, status: int) -> tuple[str, str]:
    return (reason if reason in REFUSAL_REASONS else "other"), str(status)


def event_label(name: str) -> str:
    return name if name in SECURITY_EVENTS else "other"


def build_labels(name: str, version: str) -> tuple[str, str, str, str]:
    from bosun import __version__

    return __version__, platform.python_version(), name, version


async def metrics_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    body, content_type = exposition()
    await respond(send, 200, body, ((b"content-type", content_type.encode()),))


_ELSEWHERE = ("Not Found: metrics are not served on the MCP port while authentication is on; they are for the scraper, on "
              "BOSUN_METRICS_PORT (docs/operations.md, Metrics)")


async def _not_here(scope: Scope, receive: Receive, send: Send) -> None:
    await reject(send, 404, _ELSEWHERE)


def main_port_route(authenticating: bool, setting: str) -> ASGIApp:
    """`/metrics` on the MCP port (when BOSUN_METRICS_PORT is not set): the metrics, or a 404 that says where they went.

    The metrics need no credential and name every registered tool, the ones a caller's scopes hide from
    `tools/list` too. So with authentication on they leave the port the clients reach unless the operator
    says otherwise (`BOSUN_METRICS_ON_MAIN_PORT=true`, for a port only the scraper can reach); an open
    server shows every tool to everyone anyway and keeps them there.
    """
    if setting == "true" or (setting == "auto" and not authenticating):
        return metrics_endpoint
    if setting == "auto":
        log.warning("metrics: with authentication on, /metrics is not served on the MCP port; set BOSUN_METRICS_PORT "
                    "to serve it on a port of its own (or BOSUN_METRICS_ON_MAIN_PORT=true)")
    return _not_here


def exposition() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, aggregated across workers when there are several."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if multiprocess():
        from prometheus_client import multiprocess as mp

        if _instance is not None:
            _instance.flush()  # this worker's own counts are current; the others' up to a second late
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(default_registry()), CONTENT_TYPE_LATEST


def start_ops_server(port: int, host: str = "0.0.0.0") -> None:
    """Serve `/metrics` on its own port from a daemon thread (works from the multi-worker supervisor too)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = default_registry()
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
