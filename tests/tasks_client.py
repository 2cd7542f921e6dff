"""FastMCP's own client driving Bosun's durable tasks, as an application would: `python tasks_client.py URL`.

Runs with .venv-tasks-client's Python (scripts/tasks_client.sh: FastMCP 4.1.6 and fastmcp-tasks, which cannot
live in the dev venv), never with the dev venv's, so it imports nothing of Bosun's or of the tests'. It speaks
2026-07-28 with the `io.modelcontextprotocol/tasks` extension declared on every request (importing
fastmcp_tasks does that) against a server serving examples/conformance_server.py, and prints one JSON object
of what it saw; tests/test_tasks_client.py asserts on it. Nothing here asserts: an exception is written into
that object instead, so the test shows what the client met rather than a traceback from another venv.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from importlib.metadata import version
from typing import Any

import fastmcp_tasks
from fastmcp import Client
from fastmcp.exceptions import ToolError
from fastmcp_tasks import call_tool_task

TERMINAL = ("completed", "failed", "cancelled")
asked: list[dict[str, Any]] = []  # what the elicitation handler was shown, in order


async def on_elicit(message: str, response_type: Any, params: Any, context: Any) -> Any:
    """Answers `confirm_delete`'s question inside its task: the client sends it with `tasks/update`."""
    asked.append({"message": message, "schema": params.requested_schema})
    return response_type(confirm=True)


def text_of(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def polled(task: Any, limit: float = 15) -> list[dict[str, Any]]:
    """`tasks/get` every 0.2 s until the task ends: each distinct (status, statusMessage) it went through."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        current = await task.status()
        step = {"status": current.status, "message": current.status_message}
        if not seen or seen[-1] != step:
            seen.append(step)
        if current.status in TERMINAL:
            break
        await asyncio.sleep(0.2)
    return seen


async def compute(client: Client) -> dict[str, Any]:
    task = await call_tool_task(client, "slow_compute", {"seconds": 2, "label": "compute"})
    created = task.create_result
    steps = await polled(task)
    result = await task.result()
    return {"task_id": task.task_id, "created": {"status": created.status, "ttl_ms": created.ttl_ms,
                                                 "poll_interval_ms": created.poll_interval_ms},
            "steps": steps, "text": text_of(result), "is_error": result.is_error}


async def confirm(client: Client) -> dict[str, Any]:
    task = await call_tool_task(client, "confirm_delete", {"filename": "report.txt"})
    parked = await task.wait(state="input_required", timeout=10)
    requests = parked.input_requests or {}
    result = await task.result()  # answers through on_elicit, then polls to the end
    final = await task.status()
    return {"task_id": task.task_id, "parked": parked.status,
            "requests": {key: request.get("method") for key, request in requests.items()},
            "text": text_of(result), "final": final.status}


async def cancel(client: Client) -> dict[str, Any]:
    task = await call_tool_task(client, "slow_compute", {"seconds": 60, "label": "long"})
    before = await polled_until_running(task)
    began = time.monotonic()
    await task.cancel()
    final = await task.wait(timeout=10)
    settled = time.monotonic() - began
    await asyncio.sleep(1.5)  # the tool would have reported its next second by now, had it gone on
    later = await task.status()
    try:
        await task.result()
        raised = None
    except ToolError as error:
        raised = str(error)
    return {"task_id": task.task_id, "before": before, "final": final.status, "message": final.status_message,
            "seconds": round(settled, 3), "later": {"status": later.status, "message": later.status_message},
            "result_raised": raised}


async def polled_until_running(task: Any) -> str | None:
    """The statusMessage once the run has reported it is under way (so the cancel reaches a running tool)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = await task.status()
        if current.status_message:
            return str(current.status_message)
        await asyncio.sleep(0.1)
    return None


async def greet(client: Client) -> dict[str, Any]:
    result = await client.call_tool("greet", {"name": "Ada"})
    try:
        await call_tool_task(client, "greet", {"name": "Ada"})
        as_task = "a task"
    except ToolError as error:  # the server ran it at once: no task handle to give
        as_task = str(error)
    return {"text": text_of(result), "is_error": result.is_error, "as_task": as_task}


async def transparent(client: Client) -> dict[str, Any]:
    """`call_tool` on task tools: the client creates the task and polls it to the end itself."""
    done = await client.call_tool("slow_compute", {"seconds": 1, "label": "plain"})
    tool_error = await client.call_tool("failing_job", {}, raise_on_error=False)
    try:
        await client.call_tool("protocol_error_job", {})
        failed = None
    except ToolError as error:
        failed = str(error)
    return {"text": text_of(done), "tool_error": {"is_error": tool_error.is_error, "text": text_of(tool_error)},
            "failed": failed}


async def main(url: str) -> dict[str, Any]:
    report: dict[str, Any] = {"versions": {name: version(name) for name in ("fastmcp", "fastmcp-tasks", "redis")}}
    report["versions"]["fastmcp_tasks_module"] = fastmcp_tasks.__version__
    async with Client(url, mode="2026-07-28", elicitation_handler=on_elicit, timeout=30) as client:
        for name, step in (("greet", greet), ("compute", compute), ("confirm", confirm), ("cancel", cancel),
                           ("transparent", transparent)):
            try:
                report[name] = await step(client)
            except Exception as error:  # noqa: BLE001 - reported, for the test to show
                report[name] = {"exception": f"{type(error).__name__}: {error}"}
    report["asked"] = asked
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
