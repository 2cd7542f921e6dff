"""A real client that speaks the tasks extension drives Bosun's durable tasks end to end (issue 25).

The client is FastMCP 4.1.6's, with fastmcp-tasks (its half of `io.modelcontextprotocol/tasks`: `call_tool_task`,
then `tasks/get`, `tasks/update` and `tasks/cancel` under the hood). It lives in .venv-tasks-client (pinned in
requirements/tasks-client.lock, made by scripts/tasks_client.sh, which scripts/setup.sh dev runs), because
fastmcp-tasks refuses the redis-py Bosun pins. tests/tasks_client.py runs there against `bosun serve
examples/conformance_server.py` and prints what it saw as JSON; the assertions are all here.

Twice: with tasks in the server's process (no REDIS_URL), and on a private Redis, where the records live in
Redis and the runs go through docket, so the same client also proves the shared engine.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, start_server, stop_server
from pg import PrivateRedis
from services import free_port

CLIENT_PYTHON = ROOT / ".venv-tasks-client" / "bin" / "python"
NAMESPACE = "bosun:bosun-conformance-server"  # the conformance server's name: its Redis keys' prefix


@dataclass
class Served:
    url: str
    redis: PrivateRedis | None
    log: Path


@pytest.fixture(params=["memory", "redis"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    private = None
    env = {"REDIS_URL": "", "BOSUN_REDIS_URL": ""}  # never the machine's Redis, whatever the environment says
    if request.param == "redis":
        (tmp_path / "redis").mkdir()
        private = PrivateRedis(free_port(), tmp_path / "redis")
        private.start()
        env["REDIS_URL"] = private.url
    log = tmp_path / "server.log"
    try:
        running = start_server("examples/conformance_server.py", env=env, log=log)
        try:
            yield Served(running.url, private, log)
        finally:
            stop_server(running)
    finally:
        if private is not None:
            private.stop()


def drive(url: str) -> dict[str, Any]:
    """tests/tasks_client.py with the client venv's Python: its JSON report."""
    assert CLIENT_PYTHON.exists(), "run scripts/tasks_client.sh (scripts/setup.sh dev calls it)"
    run = subprocess.run([str(CLIENT_PYTHON), str(ROOT / "tests" / "tasks_client.py"), url], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-4000:]
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    failed = {name: part["exception"] for name, part in report.items() if isinstance(part, dict) and "exception" in part}
    assert not failed, failed
    return report


def test_fastmcp_client_drives_tasks(served: Served) -> None:
    report = drive(served.url)
    versions = report["versions"]
    assert versions["fastmcp"] == "4.1.6" and versions["fastmcp-tasks"] == "4.1.4", versions
    assert versions["redis"] != "8.1.0", versions  # the version fastmcp-tasks refuses: the lock resolved another

    # A tool that is no task answers at once, even to a client that declares the extension on every request.
    greet = report["greet"]
    assert greet["text"] == "Hello, Ada!" and greet["is_error"] is False
    assert "did not run as a task" in greet["as_task"], greet

    # slow_compute as a task: a handle at once, `working` with the tool's own status messages, then the result.
    compute = report["compute"]
    assert compute["created"] == {"status": "working", "ttl_ms": 3_600_000, "poll_interval_ms": 1000}, compute
    steps = compute["steps"]
    assert steps[0]["status"] == "working" and steps[-1]["status"] == "completed", steps
    assert any(re.fullmatch(r"compute: [01] of 2 seconds", step["message"] or "") for step in steps), steps  # report_status
    assert compute["text"] == "compute: done after 2s" and compute["is_error"] is False

    # ctx.elicit inside the task: input_required with one elicitation, answered by the client's handler (tasks/update).
    confirm = report["confirm"]
    assert confirm["parked"] == "input_required" and list(confirm["requests"].values()) == ["elicitation/create"], confirm
    assert report["asked"] == [{"message": "Delete report.txt?", "schema": {
        "type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}}]
    assert confirm["text"] == "Deleted report.txt" and confirm["final"] == "completed", confirm

    # tasks/cancel on a running 60 s task: cancelled, and it stays so (the server's count of runs under way, below,
    # shows its run stopped).
    cancel = report["cancel"]
    assert re.fullmatch(r"long: \d+ of 60 seconds", cancel["before"] or ""), cancel  # under way when cancelled
    assert cancel["final"] == "cancelled" and cancel["message"] == "Cancelled by the client", cancel
    assert cancel["later"] == {"status": "cancelled", "message": "Cancelled by the client"}, cancel
    assert cancel["seconds"] < 10 and "was cancelled" in (cancel["result_raised"] or ""), cancel

    # `call_tool` on task tools: the client drives them itself. A tool error is a completed task with isError; a
    # JSON-RPC error is a failed one, which the client raises.
    transparent = report["transparent"]
    assert transparent["text"] == "plain: done after 1s", transparent
    assert transparent["tool_error"] == {"is_error": True, "text": "The job failed: the input was rejected"}, transparent
    assert transparent["failed"] == "The job could not be carried out", transparent

    # The server's own account (one replica): every transition counted once, and no run left under way, though the
    # cancelled task had 60 s to go.
    metrics = httpx.get(served.url.removesuffix("/mcp") + "/metrics", timeout=10).text
    samples = {(sample.name, sample.labels.get("status")): sample.value
               for family in text_string_to_metric_families(metrics) if family.name.startswith("bosun_tasks")
               for sample in family.samples}
    counted = {status: samples[("bosun_tasks_total", status)] for status in
               ("created", "input_required", "completed", "failed", "cancelled")}
    assert counted == {"created": 6, "input_required": 1, "completed": 4, "failed": 1, "cancelled": 1}, counted
    assert samples[("bosun_tasks_running", None)] == 0, samples

    if served.redis is not None:  # the records the client polled are in Redis (any replica could have answered)
        client = redis.Redis(port=served.redis.port, decode_responses=True)
        try:
            for part in ("compute", "confirm", "cancel"):
                task_id = report[part]["task_id"]
                status = client.hget(f"{NAMESPACE}:task:{{{task_id}}}", "st")
                assert status == {"compute": "completed", "confirm": "completed", "cancel": "cancelled"}[part], part
            assert client.exists(f"{NAMESPACE}:tasks:stream")  # and the runs went through docket's stream
        finally:
            client.close()
