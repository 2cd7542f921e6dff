"""A rolling restart of three task replicas (tests/tasks_app.py, one private Redis, HAProxy round robin) under load.

Eight clients each create short tasks (1-3 s, async and plain `def` tools) through HAProxy and poll them to the end,
cancelling every sixth, while the replicas are restarted one at a time (SIGTERM, exit, start, `/ready`). With
BOSUN_TASKS_GRACE_SECONDS=1 a stopping replica lets its runs go on for a second, then hands back those still
under way; another replica runs them again once their lease lapses (BOSUN_TASKS_REDELIVERY_SECONDS=3). What
has to hold: every task ends `completed` or `cancelled` (the cancelled ones only if the client asked), none is
lost (a -32602 for a task created earlier), a terminal status never changes, and a client meets no 5xx but a
retryable 503 on create, which it retries (counted). And a clean shutdown's hand-back is not a crash: one task
handed back four times in a row still completes, while a tool not safe to repeat ends `failed` rather than start
again.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tasks_replicas import REDELIVERY, TERMINAL, Cluster, body_of, get, marks, rpc
from tasks_replicas import create as create_task

CLIENTS = 8
TEST_BOUND = 90.0  # seconds for the whole test: load, three restarts, and the last tasks' ends
TASK_BOUND = 45.0  # seconds one task may take, hand-backs included


@dataclass
class Ended:
    task_id: str
    label: str
    tool: str
    status: str
    cancel_asked: bool


@dataclass
class Client:
    """One client thread's tasks, one after another, and everything that went wrong for it."""

    number: int
    url: str
    stop: threading.Event
    ended: list[Ended] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    retried_503: int = 0

    def run(self) -> None:
        chance = random.Random(self.number)
        with httpx.Client(timeout=30) as http:
            count = 0
            while not self.stop.is_set():
                count += 1
                label = f"c{self.number}-{count}"
                tool = "slow" if count % 2 else "crunch"
                arguments = {"label": label, "seconds": round(chance.uniform(1.0, 3.0), 1)}
                task_id = self._create(http, tool, arguments)
                if task_id is not None:
                    self._follow(http, task_id, label, tool, cancel_asked=count % 6 == 0)

    def _create(self, http: httpx.Client, tool: str, arguments: dict[str, object]) -> str | None:
        for _ in range(50):
            answer = rpc(http, self.url, "tools/call", {"name": tool, "arguments": arguments})
            result = body_of(answer).get("result") or {}
            if answer.status_code == 200 and result.get("resultType") == "task":
                task_id: str = result["taskId"]
                return task_id
            if answer.status_code == 503:
                self.retried_503 += 1
                time.sleep(0.2)
                continue
            self.failures.append(f"create {arguments['label']}: {answer.status_code} {answer.text[:200]}")
            return None
        self.failures.append(f"create {arguments['label']}: 503 fifty times")
        return None

    def _follow(self, http: httpx.Client, task_id: str, label: str, tool: str, *, cancel_asked: bool) -> None:
        began = time.monotonic()
        cancelled = False
        while time.monotonic() - began < TASK_BOUND:
            if cancel_asked and not cancelled and time.monotonic() - began > 0.5:
                answer = rpc(http, self.url, "tasks/cancel", {"taskId": task_id}, name=task_id)
                cancelled = True
                if answer.status_code != 200 or "result" not in body_of(answer):
                    self.failures.append(f"cancel {label}: {answer.status_code} {answer.text[:200]}")
            answer = rpc(http, self.url, "tasks/get", {"taskId": task_id}, name=task_id)
            body = body_of(answer)
            if (body.get("error") or {}).get("code") == -32602:
                self.lost.append(f"{label} ({tool}): {body['error']}")
                return
            status = (body.get("result") or {}).get("status")
            if answer.status_code != 200 or status is None:
                self.failures.append(f"get {label}: {answer.status_code} {answer.text[:200]}")
            elif status in TERMINAL:
                self.ended.append(Ended(task_id, label, tool, status, cancel_asked))
                return
            time.sleep(0.2)
        self.failures.append(f"{label} ({tool}) not ended within {TASK_BOUND}s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(Path(tmp_path_factory.mktemp("tasks-restart")), BOSUN_TASKS_GRACE_SECONDS="1",
                      BOSUN_DRAIN_SECONDS="0.5")
    try:
        yield running
    finally:
        running.stop()


def _runs(cluster: Cluster, label: str, event: str = "start") -> list[int]:
    return [pid for seen, pid, _ in marks(cluster.marks, label) if seen == event]


def _restart_its_replica(cluster: Cluster, label: str, runs: int) -> None:
    """Once the task's run number `runs` is a second in, stop that replica cleanly (it hands the run back)."""
    deadline = time.monotonic() + 3 * REDELIVERY + 10
    while len(_runs(cluster, label)) < runs:
        assert time.monotonic() < deadline, f"run {runs} of {label} did not start: {marks(cluster.marks, label)}"
        time.sleep(0.05)
    time.sleep(1.0)
    cluster.restart(cluster.index_of(_runs(cluster, label)[-1]))


def test_a_rolling_restart_under_load_loses_no_task(cluster: Cluster) -> None:
    cluster.exit_codes.clear()
    began = time.monotonic()
    stop = threading.Event()
    clients = [Client(number, cluster.url, stop) for number in range(CLIENTS)]
    threads = [threading.Thread(target=client.run, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    away: list[float] = []
    try:
        time.sleep(3.0)  # under way on every replica
        for index in range(3):
            away.append(cluster.restart(index))
            time.sleep(1.0)
        time.sleep(2.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(max(1.0, TEST_BOUND - (time.monotonic() - began)))
    elapsed = time.monotonic() - began
    assert not any(thread.is_alive() for thread in threads), "a client was still following a task at the bound"
    ended = [task for client in clients for task in client.ended]
    failures = [failure for client in clients for failure in client.failures]
    lost = [task for client in clients for task in client.lost]
    retried = sum(client.retried_503 for client in clients)
    statuses = {status: sum(task.status == status for task in ended) for status in sorted(TERMINAL)}
    with httpx.Client(timeout=10) as http:  # a terminal status stays: read every task once more
        changed = [f"{task.label}: {task.status} -> {now}" for task in ended
                   if (now := get(http, cluster.url, task.task_id)["status"]) != task.status]
    assert cluster.balancer is not None
    haproxy = cluster.balancer.retried()
    runs = {task.label: marks(cluster.marks, task.label) for task in ended}
    handed_back = [label for label, lines in runs.items() if len({pid for event, pid, _ in lines if event == "start"}) > 1]
    finished_elsewhere = [label for label in handed_back
                          if [pid for event, pid, _ in runs[label] if event == "done"][-1:] != [runs[label][0][1]]]
    print(f"\nrolling restart of 3 replicas under {CLIENTS} clients: {len(ended)} tasks created and ended in "
          f"{elapsed:.1f}s ({statuses}); lost {len(lost)}; other failures {len(failures)}; 503 on create retried "
          f"{retried}; replicas away {', '.join(f'{seconds:.1f}s' for seconds in away)}; runs handed back at "
          f"shutdown and run again elsewhere: {len(handed_back)} (completed on another replica: "
          f"{len(finished_elsewhere)}); HAProxy retried {haproxy['retries']} requests that met a stopping replica "
          f"({haproxy['redispatches']} redispatched); exit codes {cluster.exit_codes}")
    assert not lost, lost[:5]
    assert not failures, failures[:5]
    assert not changed, changed[:5]
    assert statuses["failed"] == 0, [task for task in ended if task.status == "failed"][:3]
    assert all(task.cancel_asked for task in ended if task.status == "cancelled")
    assert len(ended) >= 40, len(ended)
    assert handed_back, "no run was under way at any of the three shutdowns"
    assert cluster.exit_codes == [0, 0, 0], cluster.exit_codes
    assert elapsed < TEST_BOUND


def test_clean_shutdowns_are_not_counted_as_crashes(cluster: Cluster) -> None:
    """BOSUN_TASKS_MAX_REDELIVERIES (3) is for runs that kill their replica: four clean hand-backs of one long task in
    a row (a rolling restart of a bigger fleet can do that) must not end it `failed`."""
    with httpx.Client(timeout=10) as http:
        task_id = create_task(http, cluster.url, "slow", {"label": "handed-back", "seconds": 6})
        for runs in range(1, 5):
            _restart_its_replica(cluster, "handed-back", runs)
        deadline = time.monotonic() + 3 * REDELIVERY + 15
        while (task := get(http, cluster.url, task_id))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, task
            time.sleep(0.2)
    assert task["status"] == "completed", task
    assert len(_runs(cluster, "handed-back")) == 5 and len(_runs(cluster, "handed-back", "cleanup")) == 4
    print(f"\none task handed back by 4 clean shutdowns in a row: completed on its 5th run ({task['result']})")


def test_a_tool_not_safe_to_repeat_handed_back_at_shutdown_ends_failed(cluster: Cluster) -> None:
    """Stopped partway by a clean shutdown (past BOSUN_TASKS_GRACE_SECONDS), a `safe_to_repeat=False` run is not
    started again: the task ends `failed`, saying why."""
    with httpx.Client(timeout=10) as http:
        task_id = create_task(http, cluster.url, "once", {"label": "once-stopped", "seconds": 30})
        _restart_its_replica(cluster, "once-stopped", 1)
        deadline = time.monotonic() + 3 * REDELIVERY + 10
        while (task := get(http, cluster.url, task_id))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, task
            time.sleep(0.2)
        time.sleep(1.0)
    assert task["status"] == "failed" and "not safe to repeat" in task["error"]["message"], task
    assert [event for event, _, _ in marks(cluster.marks, "once-stopped")] == ["start"]
    print(f"\nsafe_to_repeat=False run stopped by a clean shutdown: {task['error']['message']!r}")
