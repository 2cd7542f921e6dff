"""Task metrics, counted by this replica and read at scrape time (the bridge metrics' pattern).

| metric | type | labels |
| --- | --- | --- |
| `bosun_tasks_total` | counter | `status`: created, input_required, completed, failed, cancelled (transitions made here) |
| `bosun_tasks_queue_depth` | gauge | runs waiting for a slot on this replica (docket: in the shared queue, as last read) |
| `bosun_tasks_running` | gauge | runs under way on this replica |
| `bosun_tasks_queued_seconds` | histogram | submitted (created, or answered) to the start of its run |
| `bosun_tasks_run_seconds` | histogram | a run's start to its end (terminal, or waiting for input) |
| `bosun_tasks_redeliveries_total` | counter | runs begun again after their replica died mid-run |
| `bosun_tasks_polls_refused_total` | counter | `tasks/get` refused for polling faster than `pollIntervalMs` |

Counts are per replica (sum them across replicas); tasks by status across the fleet are the sum of
transitions, since every transition is counted once, where it happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from bosun.ops.metrics_core import Histogram, add_collector

_BOUNDS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
TRANSITIONS = ("created", "input_required", "completed", "failed", "cancelled")


class TaskMetrics:
    def __init__(self, depth: Callable[[], tuple[int, int]]) -> None:
        self.depth = depth
        self.transitions = dict.fromkeys(TRANSITIONS, 0)
        self.redeliveries = 0
        self.polls_refused = 0
        self.queued = Histogram(_BOUNDS)
        self.running = Histogram(_BOUNDS)

    def count(self, status: str) -> None:
        if status in self.transitions:
            self.transitions[status] += 1

    def register(self) -> None:
        """Exported from now on (one server per process exports; a second one, in tests, replaces it)."""
        if not _exported:
            add_collector(_Collector())
        _exported[:] = [self]


_exported: list[TaskMetrics] = []


class _Collector:
    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        if not _exported:
            return
        metrics = _exported[0]
        transitions = CounterMetricFamily("bosun_tasks", "Task transitions made on this replica", labels=["status"])
        for status, count in metrics.transitions.items():
            transitions.add_metric([status], count)
        yield transitions
        queued, running = metrics.depth()
        yield GaugeMetricFamily("bosun_tasks_queue_depth", "Task runs waiting to start", value=queued)
        yield GaugeMetricFamily("bosun_tasks_running", "Task runs under way on this replica", value=running)
        for name, text, histogram in (("bosun_tasks_queued_seconds", "Submitted to the start of the run", metrics.queued),
                                      ("bosun_tasks_run_seconds", "A task run, start to end", metrics.running)):
            family = HistogramMetricFamily(name, text)
            family.add_metric([], histogram.cumulative(), histogram.total)
            yield family
        yield CounterMetricFamily("bosun_tasks_redeliveries", "Runs begun again after their replica died",
                                  value=metrics.redeliveries)
        yield CounterMetricFamily("bosun_tasks_polls_refused", "tasks/get refused for polling too fast",
                                  value=metrics.polls_refused)
