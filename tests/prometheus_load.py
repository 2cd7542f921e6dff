"""A paced, bounded load on each Bosun replica, for the metrics-pipeline test: it knows what every pod served, and when.

One thread per replica sends a fixed mix of requests at a fixed rate over one kept-alive connection, and records
the wall-clock time (Prometheus' clock) at which each answer arrived. The count of answers a pod gave in any
window is then what its `mcp_requests_total` must have grown by in that window. Pacing is by schedule, so a slow
answer is made up for by the next ones and the rate over a minute is the one asked for.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from conftest import modern_call


def mix(flaky: str) -> list[tuple[str, dict[str, Any]]]:
    """One round of the load: every method and tool a dashboard panel or an alert reads, `flaky` failing as told."""
    return [
        ("tools/call", {"name": "echo", "arguments": {"text": "x"}}),
        ("tools/call", {"name": "clock", "arguments": {}}),  # cache hits
        ("tools/call", {"name": "count", "arguments": {"label": "x"}}),  # the pool; a 503 while PostgreSQL is down
        ("tools/call", {"name": "flaky", "arguments": {"how": flaky}}),
        ("tools/list", {}),
        ("tools/call", {"name": "echo", "arguments": {"text": "y"}}),
        ("resources/read", {"uri": "bosun://motd"}),
        ("prompts/get", {"name": "review", "arguments": {"code": "x"}}),
    ]


@dataclass
class Pod:
    name: str
    url: str
    rate: float  # requests per second
    done: list[float] = field(default_factory=list)  # wall-clock time of each answer
    statuses: Counter[int] = field(default_factory=Counter)

    def answered(self, start: float, end: float) -> int:
        """Answers that arrived in [start, end]."""
        return bisect_right(self.done, end) - bisect_left(self.done, start)


class Load:
    """Paced requests on every pod, from start() to stop(); `flaky` ("ok" or "error") switches the failing tool."""

    def __init__(self, pods: list[Pod], api_key: str) -> None:
        self.pods = pods
        self.headers = {"x-api-key": api_key}
        self.flaky = "ok"
        self.started = 0.0
        self.stopped = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(pod,), daemon=True) for pod in pods]
        self.failures: list[str] = []

    def warm_up(self) -> None:
        """One round of the mix on each pod, so every series the load feeds exists before Prometheus first looks:
        a series born between two scrapes loses what it counted before the first (rate() starts from a sample)."""
        with httpx.Client(timeout=10, headers=self.headers) as http:
            for pod in self.pods:
                for method, params in mix("ok"):
                    answer = modern_call(http, pod.url, method, params)
                    assert answer.status_code == 200, (pod.name, method, answer.text)

    def start(self) -> None:
        self.started = time.time()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self.stopped = time.time()

    def statuses_seen(self) -> set[int]:
        return {status for pod in self.pods for status in pod.statuses}

    def _run(self, pod: Pod) -> None:
        began = time.monotonic()
        sent = 0
        with httpx.Client(timeout=10, headers=self.headers) as http:
            while not self._stop.is_set():
                delay = began + sent / pod.rate - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                    continue
                method, params = mix(self.flaky)[sent % 8]
                try:
                    answer = modern_call(http, pod.url, method, params)
                except httpx.HTTPError as failure:  # counted by neither side; the test fails on it
                    self.failures.append(f"{pod.name} {method}: {failure!r}")
                else:
                    pod.done.append(time.time())
                    pod.statuses[answer.status_code] += 1
                sent += 1
