"""Durable tasks across three replicas (tests/tasks_app.py) sharing one private Redis, behind HAProxy round robin
with no affinity, driven with plain 2026-07-28 requests that declare `io.modelcontextprotocol/tasks`.

What has to hold, since a client may reach any replica at any moment: a task created anywhere is found
everywhere at once; a run whose replica is killed (-9) starts again elsewhere within a bound set by
BOSUN_TASKS_REDELIVERY_SECONDS and completes, and the task's status never leaves a terminal one; a tool
not safe to repeat ends `failed` instead of running twice; a cancel sent to another replica stops the work
in under 2 s. The rolling restart is tests/test_tasks_replicas_restart.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tasks_replicas import (
    PICKUP_BOUND,
    REDELIVERY,
    TERMINAL,
    Cluster,
    Watcher,
    cancel,
    create,
    get,
    log_tail,
    marks,
    wait_mark,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(Path(tmp_path_factory.mktemp("tasks-replicas")))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture()
def healed(cluster: Cluster) -> Cluster:
    cluster.heal()
    return cluster


def _until_terminal(http: httpx.Client, url: str, task_id: str, seconds: float) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        task = get(http, url, task_id)
        if task["status"] in TERMINAL:
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task['status']} after {seconds}s"
        time.sleep(0.1)


def test_a_task_created_through_any_replica_is_found_on_every_replica_at_once(healed: Cluster) -> None:
    urls = [replica.url for replica in healed.replicas]
    with httpx.Client(timeout=10) as http:
        created = [create(http, healed.url, "slow", {"label": f"seen-{index}", "seconds": 0.5}) for index in range(3)]
        created += [create(http, url, "crunch", {"label": f"seen-direct-{index}", "seconds": 0.5})
                    for index, url in enumerate(urls)]
        for task_id in created:  # at once: no replica may answer -32602 for a task another one just created
            shown = [get(http, url, task_id) for url in [*urls, healed.url]]
            assert {task["createdAt"] for task in shown} == {shown[0]["createdAt"]}
            assert all(task["status"] in ("working", "completed") for task in shown), shown
        for task_id in created:
            _until_terminal(http, healed.url, task_id, 15)
            ended = [get(http, url, task_id) for url in urls]
            assert [task["status"] for task in ended] == ["completed"] * 3, ended
            assert len({str(task["result"]) for task in ended}) == 1
    runners = {pid for index in range(3) for prefix in ("seen", "seen-direct")
               for _, pid, _ in marks(healed.marks, f"{prefix}-{index}")}
    print(f"\n6 tasks, each found on all 3 replicas and through HAProxy at once; run by {len(runners)} replica(s)")


def test_a_killed_replicas_run_is_picked_up_elsewhere_and_completes(healed: Cluster) -> None:
    with httpx.Client(timeout=10) as http:
        task_id = create(http, healed.url, "slow", {"label": "killed", "seconds": 4})
        watcher = Watcher(healed.url, task_id)
        try:
            (_, pid, _), = wait_mark(healed.marks, "killed", "start", 10)
            time.sleep(1.0)  # mid-run
            killed = healed.kill(healed.index_of(pid))
            while True:  # the next run, on another replica
                again = [line for line in marks(healed.marks, "killed") if line[0] == "start" and line[1] != pid]
                if again:
                    pickup = time.monotonic() - killed
                    break
                assert time.monotonic() - killed < PICKUP_BOUND, f"not picked up in {PICKUP_BOUND}s\n{log_tail(healed.directory)}"
                time.sleep(0.02)
            task = _until_terminal(http, healed.url, task_id, 20)
            time.sleep(1.0)  # keep watching: a terminal status must stay
            survivors = [get(http, replica.url, task_id)["status"] for replica in healed.replicas
                         if replica.process.poll() is None]
        finally:
            statuses = watcher.stop()
    assert task["status"] == "completed", task
    assert survivors == ["completed"] * 2, survivors
    assert watcher.changes_after_terminal() == [], watcher.seen
    assert statuses == ["working", "completed"], statuses
    assert not watcher.errors, watcher.errors[:5]
    events = [event for event, _, _ in marks(healed.marks, "killed")]
    assert events == ["start", "start", "done"], events  # killed with no chance to clean up; run again from the top
    assert REDELIVERY / 2 <= pickup <= PICKUP_BOUND  # not before the lease lapsed: a live run is never taken over
    assert healed.balancer is not None
    print(f"\nkill -9 of the running replica: picked up by another after {pickup:.2f}s (redelivery timeout "
          f"{REDELIVERY:g}s, bound {PICKUP_BOUND:g}s); completed; {watcher.polls} polls through HAProxy, 0 failed, "
          f"statuses {statuses}; HAProxy so far: {healed.balancer.retried()}")


def test_a_tool_not_safe_to_repeat_fails_clearly_when_its_replica_dies(healed: Cluster) -> None:
    with httpx.Client(timeout=10) as http:
        task_id = create(http, healed.url, "once", {"label": "once", "seconds": 8})
        watcher = Watcher(healed.url, task_id)
        try:
            (_, pid, _), = wait_mark(healed.marks, "once", "start", 10)
            time.sleep(0.5)
            killed = healed.kill(healed.index_of(pid))
            task = _until_terminal(http, healed.url, task_id, PICKUP_BOUND + 5)
            ended = time.monotonic() - killed
            time.sleep(1.0)
        finally:
            watcher.stop()
    assert task["status"] == "failed", task
    error = task["error"]
    assert isinstance(error, dict) and error["code"] == -32603
    assert "not safe to repeat" in error["message"] and "not run again" in error["message"], error
    assert "not safe to repeat" in str(task.get("statusMessage")), task
    assert "result" not in task
    assert [event for event, _, _ in marks(healed.marks, "once")] == ["start"]  # never a second run, never done
    assert watcher.changes_after_terminal() == [], watcher.seen
    print(f"\nsafe_to_repeat=False, replica killed mid-run: failed after {ended:.2f}s, run once: {error['message']!r}")


@pytest.mark.parametrize("tool", ["slow", "crunch"])
def test_a_cancel_sent_to_another_replica_stops_the_work_within_two_seconds(healed: Cluster, tool: str) -> None:
    label = f"cancel-{tool}"
    with httpx.Client(timeout=10) as http:
        task_id = create(http, healed.url, tool, {"label": label, "seconds": 30})
        (_, pid, _), = wait_mark(healed.marks, label, "start", 10)
        runner = healed.index_of(pid)
        other = healed.replicas[(runner + 1) % 3]
        time.sleep(0.3)
        sent = time.time()
        cancel(http, other.url, task_id)
        (_, cleaned_by, cleaned_at), = wait_mark(healed.marks, label, "cleanup", 2.5)
        latency = cleaned_at - sent
        shown = [get(http, replica.url, task_id)["status"] for replica in healed.replicas]
        watcher = Watcher(healed.url, task_id)
        time.sleep(1.5)
        statuses = watcher.stop()
    assert cleaned_by == pid
    assert latency < 2.0, f"the {tool} run stopped {latency:.2f}s after the cancel"
    assert shown == ["cancelled"] * 3, shown
    assert statuses == ["cancelled"] and not watcher.errors, (statuses, watcher.errors[:3])
    assert [event for event, _, _ in marks(healed.marks, label)] == ["start", "cleanup"]
    print(f"\ncancel of a {tool} run through another replica: its cleanup ran {latency * 1000:.0f} ms later; "
          f"cancelled on all 3, and still after {watcher.polls} polls over 1.5 s")
