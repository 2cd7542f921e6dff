"""Durable tasks over 2026-07-28 (SEP-2663, `io.modelcontextprotocol/tasks`), from outside: real servers, plain HTTP.

The official conformance scenarios cover the wire shapes; these cover what they do not: binding to the caller,
the caps, the TTL (in Redis too), poll enforcement, the audit trail, status messages, cancellation reaching the
function, arguments kept across an input round, negotiation with the official client, and readiness. Tests
that depend on the store run twice: in memory and on a private Redis (`REDIS_URL`). The 2025-11-25 utility is
tests/test_tasks_legacy.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_py
from polling import eventually
from tasks_http import ALICE, BOB, SERVER, Servers, Tasks, api_keys

from conftest import ROOT, Running, free_port, stop_server
from pg import PrivateRedis

pytest_plugins = ["tasks_fixtures"]  # `private_redis`, `serve`
BACKENDS = pytest.mark.parametrize("backend", ["memory", "redis"])




@BACKENDS
def test_another_callers_task_is_answered_exactly_like_an_unknown_one(backend: str, serve: Servers, http: httpx.Client,
                                                                      tmp_path: Path) -> None:
    server = serve(api_keys(tmp_path))
    alice, bob = Tasks(http, server, ALICE), Tasks(http, server, BOB)
    task_id = alice.create("counting")
    for method, extra in (("tasks/get", {}), ("tasks/update", {"inputResponses": {}}), ("tasks/cancel", {})):
        theirs = bob.error(method, {"taskId": task_id, **extra})
        unknown = bob.error(method, {"taskId": "no-such-task-" + "x" * 20, **extra})
        assert theirs == unknown == (200, {"code": -32602, "message": "Task not found"}), method
    assert alice.get(task_id)["status"] == "working"  # bob's cancel did nothing
    assert Tasks(http, server).post("tasks/get", {"taskId": task_id}).status_code == 401  # no key: no answer at all
    alice.cancel(task_id)


@BACKENDS
def test_the_caps_on_unfinished_tasks_hold_per_caller_and_in_all(backend: str, serve: Servers, http: httpx.Client,
                                                                 tmp_path: Path) -> None:
    server = serve({**api_keys(tmp_path), "BOSUN_TASKS_PER_PRINCIPAL": "2", "BOSUN_TASKS_TOTAL": "3"})
    alice, bob = Tasks(http, server, ALICE), Tasks(http, server, BOB)
    quick = alice.create("slow", {"seconds": 0.5})
    parked = alice.create("counting")
    status, error = alice.error("tools/call", {"name": "counting", "arguments": {}})
    assert (status, error["code"]) == (429, -32603)
    assert error["message"] == "Too many unfinished tasks for this caller (at most 2); retry when one ends"
    kept = bob.create("counting")  # another caller still can ...
    status, error = bob.error("tools/call", {"name": "counting", "arguments": {}})
    assert (status, error["code"]) == (429, -32603)  # ... until the server's total is reached
    assert error["message"] == "Too many unfinished tasks on this server (at most 3); retry later"
    alice.cancel(parked)  # a cancelled task no longer counts ...
    again = alice.create("counting")
    alice.wait(quick, "completed")  # ... nor does one that ended on its own
    last = alice.create("counting")
    for task_id in (again, last):
        alice.cancel(task_id)
    bob.cancel(kept)


@BACKENDS
def test_a_task_and_its_result_are_gone_after_the_ttl(backend: str, serve: Servers, http: httpx.Client,
                                                      request: pytest.FixtureRequest) -> None:
    server = serve({"BOSUN_TASKS_TTL_SECONDS": "2"})
    tasks = Tasks(http, server)
    created = tasks.result("tools/call", {"name": "slow", "arguments": {"seconds": 0.1, "label": "kept-for-ttl"}})
    assert created["ttlMs"] == 2000 and type(created["ttlMs"]) is int
    task_id = created["taskId"]
    done = tasks.wait(task_id, "completed")
    assert done["ttlMs"] == 2000 and done["result"]["content"][0]["text"] == "kept-for-ttl done"
    time.sleep(max(0.0, created_at_ms(created) + 2000 - time.time() * 1000) / 1000 + 0.2)
    assert tasks.error("tasks/get", {"taskId": task_id}) == (200, {"code": -32602, "message": "Task not found"})
    if backend == "redis":
        redis = redis_py.Redis.from_url(request.getfixturevalue("private_redis").url)
        names = [name.decode() for name in redis.keys("*")]
        assert not [name for name in names if f"{{{task_id}}}" in name]  # the record, its questions and answers
        # What else names the task is docket's bookkeeping of the run (kept 5 minutes), which holds no result.
        assert all(":tasks:runs:" in name for name in names if task_id in name), names
        for name in names:
            if redis.type(name) == b"hash":
                assert b"kept-for-ttl" not in b"".join(redis.hgetall(name).values()), name


def created_at_ms(task: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(task["createdAt"].replace("Z", "+00:00")).timestamp() * 1000


def test_polling_faster_than_the_interval_is_refused_and_counted(serve: Servers, http: httpx.Client) -> None:
    server = serve({"BOSUN_TASKS_ENFORCE_POLL_INTERVAL": "true", "BOSUN_TASKS_POLL_SECONDS": "1"})
    tasks = Tasks(http, server)
    task_id = tasks.create("counting")
    assert refused_polls(http, server) == 0
    first = time.monotonic()
    assert tasks.get(task_id)["pollIntervalMs"] == 1000
    status, error = tasks.error("tasks/get", {"taskId": task_id})
    assert time.monotonic() - first < 0.1
    assert (status, error["code"]) == (429, -32029) and error["data"] == {"retryAfter": 1.0}
    assert "pollIntervalMs" in error["message"]
    assert refused_polls(http, server) == 1
    time.sleep(1.0)
    assert tasks.get(task_id)["status"] == "working"  # at the interval: answered
    tasks.cancel(task_id)


def refused_polls(http: httpx.Client, server: Running) -> float:
    lines = http.get(server.base + "/metrics").text.splitlines()
    return float(next(line for line in lines if line.startswith("bosun_tasks_polls_refused_total ")).split()[1])


def test_the_audit_trail_records_creation_cancellation_and_the_end(serve: Servers, http: httpx.Client, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    server = serve({**api_keys(tmp_path), "BOSUN_AUDIT": "all", "BOSUN_AUDIT_LOG": str(log)})
    alice = Tasks(http, server, ALICE)
    cancelled = alice.create("counting")
    alice.cancel(cancelled)
    ended = alice.create("slow", {"seconds": 0.1})
    alice.wait(ended, "completed")

    def records() -> list[dict[str, Any]] | None:
        found = [json.loads(line)["audit"] for line in log.read_text().splitlines()] if log.exists() else []
        mine = [record for record in found if record["method"].startswith("tasks/")]
        return mine if len(mine) >= 4 else None

    seen = {(record["method"], record["target"], record["outcome"]): record for record in eventually(records, 3)}
    assert set(seen) == {("tasks/create", "counting", f"task:{cancelled}"), ("tasks/cancel", "counting", f"task:{cancelled}"),
                         ("tasks/create", "slow", f"task:{ended}"), ("tasks/end", "slow", "completed")}
    assert all(record["principal"] == "apikey#alice" for record in seen.values())
    assert seen[("tasks/end", "slow", "completed")]["jsonrpc_id"] == ended


@BACKENDS
def test_report_status_is_the_status_message_while_the_task_runs(backend: str, serve: Servers, http: httpx.Client) -> None:
    tasks = Tasks(http, serve())
    task_id = tasks.create("counting")
    running = eventually(lambda: (task := tasks.get(task_id)).get("statusMessage") and task)
    assert (running["status"], running["statusMessage"]) == ("working", "3 of 10")
    tasks.cancel(task_id)
    assert tasks.get(task_id)["statusMessage"] == "Cancelled by the client"


@BACKENDS
def test_a_cancel_reaches_the_running_function_and_the_status_stays_cancelled(backend: str, serve: Servers, http: httpx.Client,
                                                                            tmp_path: Path) -> None:
    tasks = Tasks(http, serve())
    for tool, last in (("careful", "cancelled, cleaned up"), ("plain_loop", "stopped")):
        marker = tmp_path / f"{tool}.marks"
        task_id = tasks.create(tool, {"marker": str(marker)})
        eventually(lambda marker=marker: marker.exists() and marker.read_text())
        asked = time.monotonic()
        ack = tasks.cancel(task_id)
        assert ack["resultType"] == "complete" and set(ack) <= {"resultType", "_meta"}
        eventually(lambda marker=marker, last=last: marker.read_text().splitlines()[-1] == last, 2.0)
        assert time.monotonic() - asked < 2.0, tool
        for _ in range(5):  # a `def` tool returns after seeing the cancel: its result must not replace `cancelled`
            task = tasks.get(task_id)
            assert task["status"] == "cancelled" and "result" not in task, (tool, task)
            time.sleep(0.1)
        assert marker.read_text().splitlines() == ["started", last]


@BACKENDS
def test_a_task_keeps_its_arguments_when_it_runs_again_with_an_answer(backend: str, serve: Servers, http: httpx.Client) -> None:
    tasks = Tasks(http, serve())
    task_id = tasks.create("confirm_with", {"label": "nightly", "count": 7})
    waiting = tasks.wait(task_id, "input_required")
    [(key, question)] = waiting["inputRequests"].items()
    assert question["method"] == "elicitation/create" and question["params"]["message"] == "Go ahead with nightly?"
    time.sleep(1.0)  # the answer comes later, from another connection: the task lives in the store meanwhile
    with httpx.Client(timeout=10) as other:
        ack = Tasks(other, tasks.server).update(task_id, {key: {"action": "accept", "content": {"confirm": True}}})
    assert ack["resultType"] == "complete" and "status" not in ack
    done = tasks.wait(task_id, "completed")
    assert json.loads(done["result"]["content"][0]["text"]) == {"label": "nightly", "count": 7, "confirmed": True}


def test_clients_without_the_extension_get_plain_results_or_are_told_what_is_missing(serve: Servers, http: httpx.Client) -> None:
    import asyncio

    from mcp import Client
    from mcp.shared.exceptions import MCPError

    server = serve()

    async def official() -> tuple[Any, MCPError]:
        async with Client(server.url) as client:
            assert client.protocol_version == "2026-07-28"
            result = await client.call_tool("slow", {"seconds": 0.1, "label": "at once"})
            try:
                await client.call_tool("only_as_task", {})
            except MCPError as refused:
                return result, refused
            raise AssertionError("a task-required tool ran for a client without the extension")

    result, refused = asyncio.run(official())
    assert result.content[0].text == "at once done" and not result.is_error
    assert refused.error.code == -32021
    missing = {"requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}
    assert refused.error.data == missing
    tasks = Tasks(http, server)
    task_id = tasks.create("slow", {"seconds": 5})
    for method, extra in (("tasks/get", {}), ("tasks/update", {"inputResponses": {}}), ("tasks/cancel", {})):
        status, error = tasks.error(method, {"taskId": task_id, **extra}, declare=False)
        assert (status, error["code"], error["data"]) == (400, -32021, missing), method
    assert tasks.get(task_id)["status"] == "working"  # the refused cancel did nothing
    tasks.cancel(task_id)


def test_readiness_names_the_task_store_while_its_redis_is_down(serve: Servers, http: httpx.Client, tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    try:
        server = serve({"REDIS_URL": redis.url, "BOSUN_READINESS_INTERVAL": "0.2"})

        def tasks_check(ok: bool) -> dict[str, Any] | None:
            body: dict[str, Any] = http.get(server.base + "/ready").json()
            return body if body["checks"]["tasks"]["ok"] is ok else None

        eventually(lambda: tasks_check(True))
        created = Tasks(http, server).create("slow", {"seconds": 30})
        redis.stop()
        down = eventually(lambda: tasks_check(False), 5)
        assert "tasks" in down["failing"] and "ConnectionError" in down["checks"]["tasks"]["detail"]
        # While it is down: a retryable 503 that names no host, for a new task and for one that exists.
        for method, params in (("tools/call", {"name": "slow", "arguments": {"seconds": 1}}), ("tasks/get", {"taskId": created})):
            status, error = Tasks(http, server).error(method, params)
            assert (status, error["code"], error["message"]) == (503, -32603, "The task store is unavailable; retry shortly")
        redis.start()  # the same port, empty
        back = eventually(lambda: tasks_check(True), 10)
        assert "tasks" not in back["failing"]
        tasks = Tasks(http, server)
        assert tasks.get(tasks.create("slow", {"seconds": 0.1}))["status"] in ("working", "completed")
    finally:
        redis.stop()


def test_task_settings_are_not_reported_as_unknown(serve: Servers, tmp_path: Path) -> None:
    server = serve({"BOSUN_TASKS_TTL_SECONDS": "60", "BOSUN_TASKS_TTL_SECOND": "5"})  # the second, a typo
    stop_server(server)
    log = (tmp_path / "server.log").read_text()
    assert "BOSUN_TASKS_TTL_SECONDS is not a Bosun setting" not in log
    assert "BOSUN_TASKS_TTL_SECOND: not a tasks setting, ignored" in log


def test_task_tools_with_several_workers_and_no_redis_refuse_to_start() -> None:
    """Without Redis each worker would keep its own tasks, and a poll reaching another worker would not find its task."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "BOSUN_REDIS_URL")}
    run = subprocess.run([sys.executable, "-m", "bosun", "serve", SERVER, "--workers", "2", "--port", str(free_port())],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "task tools with --workers/BOSUN_WORKERS above 1 need REDIS_URL" in run.stderr


def test_a_run_that_ends_while_redis_is_frozen_records_its_result_once_redis_is_back(
        serve: Servers, http: httpx.Client, tmp_path: Path) -> None:
    """A step of the run's record that meets a failing store (a failover, a frozen primary) is tried again, so the
    result of a finished run is not lost and the task does not stay `working` until its TTL."""
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    try:
        server = serve({"REDIS_URL": redis.url})
        tasks = Tasks(http, server)
        task_id = tasks.create("slow", {"seconds": 1.5})
        time.sleep(0.5)  # the run has begun (it begins within milliseconds)
        assert redis.process is not None and tasks.get(task_id)["status"] == "working"
        os.kill(redis.process.pid, signal.SIGSTOP)  # the run ends while Redis answers nothing
        time.sleep(7.0)  # longer than the store's 2 s timeout and redis-py's own retry: recording the end fails
        os.kill(redis.process.pid, signal.SIGCONT)
        task = tasks.wait(task_id, "completed", 15)
        assert task["result"]["content"][0]["text"].startswith("slow")
    finally:
        if redis.process is not None:
            os.kill(redis.process.pid, signal.SIGCONT)
        redis.stop()
