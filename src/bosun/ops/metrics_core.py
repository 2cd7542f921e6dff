"""The pieces both metrics recorders share: bounded label sets, a lock-free histogram, and the collector registry.

`metrics_local` (one process) and `metrics_shared` (several workers) are built from these;
`metrics` picks one and serves `/metrics`. Kept apart so the recorders depend on this module
and not on the one that chooses between them.
"""

from __future__ import annotations

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

KNOWN_METHODS = frozenset({
    "initialize", "ping", "server/discover", "tools/list", "tools/call", "resources/list", "resources/templates/list",
    "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
    "completion/complete", "logging/setLevel", "subscriptions/listen", "notification", "response", "batch", "invalid",
    "skills/list", "skills/get", "resources/directory/read",  # the skills extension (bosun/skills/)
})
KNOWN_CODES = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR, HEADER_MISMATCH,
                         MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION, LEGACY_RESOURCE_NOT_FOUND})
REFUSAL_REASONS = frozenset({"missing_token", "invalid_token", "invalid_request", "insufficient_scope", "rate_limited",
                             "verifier_unavailable", "session_owner"})
SECURITY_EVENTS = frozenset({"jwks_fetched", "jwks_fetch_failed", "ratelimit_fail_open"})
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def code_label(code: int) -> str:
    return str(code) if code in KNOWN_CODES else "other"


def refusal_labels(reason: str, status: int) -> tuple[str, str]:
    return (reason if reason in REFUSAL_REASONS else "other"), str(status)


def event_label(name: str) -> str:
    return name if name in SECURITY_EVENTS else "other"


def build_labels(name: str, version: str) -> tuple[str, str, str, str]:
    from bosun.version import __version__

    return __version__, platform.python_version(), name, version
