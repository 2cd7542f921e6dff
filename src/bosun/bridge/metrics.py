"""Metrics per bridge, read from the bridges at scrape time (nothing is counted twice, nothing on the call path).

| metric | type | labels |
| --- | --- | --- |
| `bosun_bridge_children` | gauge | `bridge`: children running |
| `bosun_bridge_crash_looping` | gauge | `bridge`: 1 while the crash-loop breaker is open |
| `bosun_bridge_restarts_total` | counter | `bridge`: children that crashed (exited soon after start, failed a handshake) |
| `bosun_bridge_handshake_seconds` | histogram | `bridge`: start to the end of the handshake |
| `bosun_bridge_calls_in_flight` | gauge | `bridge` |
| `bosun_bridge_calls_total` | counter | `bridge`, `outcome`: ok, error, input_required, unavailable (503), exception |
| `bosun_bridge_call_seconds` | histogram | `bridge`: a call through the bridge, start to answer (any outcome) |
| `bosun_bridge_up` | gauge | `bridge`: 1 while it is served (in lists), 0 while degraded or crash-looping |

`bridge` is a configured name, so the label set is bounded. One process only: with `--workers N`
these are not exported (as the cache and database series; docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

OUTCOMES = ("ok", "error", "input_required", "unavailable", "exception")  # a tool call's outcomes, and 503s


class Measured(Protocol):
    name: str
    in_flight: int
    outcomes: dict[str, int]
    pool: Any
    call_seconds: Any

    def state(self) -> str: ...


class BridgeCollector:
    def __init__(self, bridges: Sequence[Measured]) -> None:
        self.bridges = bridges

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        children = GaugeMetricFamily("bosun_bridge_children", "Bridged children running", labels=["bridge"])
        looping = GaugeMetricFamily("bosun_bridge_crash_looping", "1 while the bridge's crash-loop breaker is open",
                                    labels=["bridge"])
        restarts = CounterMetricFamily("bosun_bridge_restarts", "Bridged children that crashed", labels=["bridge"])
        handshakes = HistogramMetricFamily("bosun_bridge_handshake_seconds", "Start to the end of the child's handshake",
                                           labels=["bridge"])
        in_flight = GaugeMetricFamily("bosun_bridge_calls_in_flight", "Calls waiting on a bridged child", labels=["bridge"])
        calls = CounterMetricFamily("bosun_bridge_calls", "Calls through the bridge, by outcome", labels=["bridge", "outcome"])
        latency = HistogramMetricFamily("bosun_bridge_call_seconds", "Calls through the bridge, start to answer",
                                        labels=["bridge"])
        up = GaugeMetricFamily("bosun_bridge_up", "1 while the bridged server is served, 0 while degraded or crash-looping",
                               labels=["bridge"])
        for bridge in self.bridges:
            pool = bridge.pool
            children.add_metric([bridge.name], pool.live())
            looping.add_metric([bridge.name], 1.0 if pool.crash_looping else 0.0)
            restarts.add_metric([bridge.name], pool.restarts)
            histogram = pool.handshake_seconds
            handshakes.add_metric([bridge.name], histogram.cumulative(), histogram.total)
            in_flight.add_metric([bridge.name], bridge.in_flight)
            for outcome in OUTCOMES:
                calls.add_metric([bridge.name, outcome], bridge.outcomes.get(outcome, 0))
            latency.add_metric([bridge.name], bridge.call_seconds.cumulative(), bridge.call_seconds.total)
            up.add_metric([bridge.name], 0.0 if bridge.state() in ("degraded", "crash-looping") else 1.0)
        yield from (children, looping, restarts, handshakes, in_flight, calls, latency, up)
