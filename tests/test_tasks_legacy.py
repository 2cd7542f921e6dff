"""The 2025-11-25 `tasks` utility, from outside: sessions (initialize, then `Mcp-Session-Id`) against real servers.

A 2025-11-25 session opts in per call with `params.task` and gets `{"task": {...}}` back, reads the end with the
blocking `tasks/result` (on whose stream the server asks the client what the task needs), lists its own tasks and
cancels them. Earlier revisions know no tasks: a call runs at once. Store-dependent tests run in memory and on a
private Redis; the 2026-07-28 extension is tests/test_tasks.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import eventually
from tasks_http import ALICE, BOB, LEGACY, Servers, Session, Tasks, api_keys

pytest_plugins = ["tasks_fixtures"]  # `private_redis`, `serve`
BACKENDS = pytest.mark.parametrize("backend", ["memory", "redis"])
RELATED = "io.modelcontextprotocol/related-task"




def status_of(session: Session, task_id: str) -> str:
    return str(session.request("tasks/get", {"taskId": task_id})["result"]["status"])


@BACKENDS
def test_a_session_creates_a_task_and_tasks_result_waits_for_its_end(backend: str, serve: Servers, http: httpx.Client) -> None:
    server = serve()
    session = Session(http, server)
    assert session.init["protocolVersion"] == LEGACY
    assert session.init["capabilities"]["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    tools = {tool["name"]: tool for tool in session.request("tools/list")["result"]["tools"]}
    assert tools["slow"]["execution"] == {"taskSupport": "optional"}
    assert tools["only_as_task"]["execution"] == {"taskSupport": "required"}
    modern = Tasks(http, server).result("tools/list", {})["tools"]
    assert not [tool for tool in modern if "execution" in tool]  # 2026-07-28 has no such field, before or after

    created = session.request("tools/call", {"name": "slow", "arguments": {"seconds": 1.0, "label": "legacy"},
                                             "task": {"ttl": 60000}})["result"]
    assert list(created) == ["task"]
    task = created["task"]
    assert (task["status"], task["ttl"], type(task["pollInterval"])) == ("working", 60000, int)
    assert not {"ttlMs", "pollIntervalMs", "resultType"} & set(task)
    task_id = task["taskId"]
    got = session.request("tasks/get", {"taskId": task_id})["result"]
    assert (got["taskId"], got["status"], got["ttl"]) == (task_id, "working", 60000) and "result" not in got

    asked = time.monotonic()
    result = session.request("tasks/result", {"taskId": task_id})["result"]
    assert time.monotonic() - asked > 0.5  # it waited for the end
    assert result["content"] == [{"type": "text", "text": "legacy done"}]
    assert result["_meta"][RELATED] == {"taskId": task_id}
    assert status_of(session, task_id) == "completed"
    # A tool error ends a 2025-11-25 task `failed`, and tasks/result hands back the tool's result as it was.
    broken = session.request("tools/call", {"name": "broken", "arguments": {}, "task": {}})["result"]["task"]["taskId"]
    failed = session.request("tasks/result", {"taskId": broken})["result"]
    assert failed["isError"] is True and failed["_meta"][RELATED] == {"taskId": broken}
    assert status_of(session, broken) == "failed"
    # A task-required tool without `params.task`: -32601, as that revision says.
    refused = session.request("tools/call", {"name": "only_as_task", "arguments": {}})["error"]
    assert refused["code"] == -32601


@BACKENDS
def test_tasks_result_asks_the_client_on_its_stream_then_completes(backend: str, serve: Servers, http: httpx.Client) -> None:
    session = Session(http, serve(), capabilities={"elicitation": {}})
    created = session.request("tools/call", {"name": "confirm_with", "arguments": {"label": "legacy", "count": 3},
                                             "task": {}})["result"]["task"]
    task_id = created["taskId"]
    eventually(lambda: status_of(session, task_id) == "input_required")
    asked: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        asked.append(request)
        return {"action": "accept", "content": {"confirm": True}}

    time.sleep(0.5)  # the answer may come long after the question: the task waits in the store
    seen = session.streamed("tasks/result", {"taskId": task_id}, answer)
    [question] = asked
    assert question["method"] == "elicitation/create" and question["params"]["message"] == "Go ahead with legacy?"
    assert question["params"]["_meta"][RELATED] == {"taskId": task_id}
    statuses = [message["params"] for message in seen if message.get("method") == "notifications/tasks/status"]
    assert statuses and statuses[-1]["taskId"] == task_id and statuses[-1]["status"] == "completed"
    final = seen[-1]["result"]
    assert json.loads(final["content"][0]["text"]) == {"label": "legacy", "count": 3, "confirmed": True}
    assert final["_meta"][RELATED] == {"taskId": task_id}


@BACKENDS
def test_tasks_list_shows_a_caller_only_its_own_tasks(backend: str, serve: Servers, http: httpx.Client, tmp_path: Path) -> None:
    server = serve(api_keys(tmp_path))
    alice, bob = Session(http, server, key=ALICE), Session(http, server, key=BOB)
    mine = {alice.request("tools/call", {"name": "counting", "arguments": {}, "task": {}})["result"]["task"]["taskId"]
            for _ in range(2)}
    theirs = bob.request("tools/call", {"name": "counting", "arguments": {}, "task": {}})["result"]["task"]["taskId"]
    assert {task["taskId"] for task in alice.request("tasks/list")["result"]["tasks"]} == mine
    assert [task["taskId"] for task in bob.request("tasks/list")["result"]["tasks"]] == [theirs]
    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        assert bob.request(method, {"taskId": next(iter(mine))})["error"] == {"code": -32602, "message": "Task not found"}
    # Another session of the same caller sees them: tasks belong to the caller, not to the session.
    assert {task["taskId"] for task in Session(http, server, key=ALICE).request("tasks/list")["result"]["tasks"]} == mine
    for task_id in mine:
        alice.request("tasks/cancel", {"taskId": task_id})
    bob.request("tasks/cancel", {"taskId": theirs})


def test_an_open_server_lists_no_tasks_since_it_cannot_tell_callers_apart(serve: Servers, http: httpx.Client) -> None:
    server = serve()
    first, second = Session(http, server), Session(http, server)
    task_id = first.request("tools/call", {"name": "counting", "arguments": {}, "task": {}})["result"]["task"]["taskId"]
    assert second.request("tasks/list")["result"] == {"tasks": []}  # the id is what guards the task: never shown
    assert first.request("tasks/list")["result"] == {"tasks": []}
    # The 2026-07-28 methods reach a task a 2025-11-25 session created (SEP-2663: a server with both SHOULD).
    modern = Tasks(http, server)
    assert modern.get(task_id)["status"] == "working"
    modern.cancel(task_id)
    assert status_of(first, task_id) == "cancelled"


@BACKENDS
def test_tasks_cancel_answers_the_cancelled_task_once(backend: str, serve: Servers, http: httpx.Client) -> None:
    session = Session(http, serve())
    task_id = session.request("tools/call", {"name": "slow", "arguments": {"seconds": 30}, "task": {}})["result"]["task"]["taskId"]
    cancelled = session.request("tasks/cancel", {"taskId": task_id})["result"]
    assert (cancelled["taskId"], cancelled["status"]) == (task_id, "cancelled")
    assert cancelled["statusMessage"] == "Cancelled by the client"
    again = session.request("tasks/cancel", {"taskId": task_id})["error"]
    assert again == {"code": -32602, "message": "Cannot cancel task: already in terminal status 'cancelled'"}
    for _ in range(3):
        assert status_of(session, task_id) == "cancelled"
        time.sleep(0.1)


def test_a_requested_ttl_above_the_maximum_is_clamped(serve: Servers, http: httpx.Client) -> None:
    session = Session(http, serve({"BOSUN_TASKS_MAX_TTL_SECONDS": "5"}))
    for requested, kept in ((60000, 5000), (3000, 3000), (None, 5000)):
        params: dict[str, Any] = {"name": "slow", "arguments": {"seconds": 0.1}, "task": {}}
        if requested is not None:
            params["task"]["ttl"] = requested
        task = session.request("tools/call", params)["result"]["task"]
        assert task["ttl"] == kept, requested
        assert session.request("tasks/get", {"taskId": task["taskId"]})["result"]["ttl"] == kept
    for bad in (0, -5, 1.5, "60000"):
        refused = session.request("tools/call", {"name": "slow", "arguments": {"seconds": 0}, "task": {"ttl": bad}})
        assert refused["error"]["code"] == -32602, bad


def test_earlier_revisions_know_no_tasks(serve: Servers, http: httpx.Client) -> None:
    session = Session(http, serve(), version="2025-06-18")
    assert session.init["protocolVersion"] == "2025-06-18"
    tools = session.request("tools/list")["result"]["tools"]
    assert not [tool for tool in tools if "execution" in tool]
    asked = time.monotonic()
    result = session.request("tools/call", {"name": "slow", "arguments": {"seconds": 0.3, "label": "sync"},
                                            "task": {"ttl": 60000}})["result"]
    assert time.monotonic() - asked >= 0.3
    assert result["content"] == [{"type": "text", "text": "sync done"}] and "task" not in result
    assert session.request("tasks/get", {"taskId": "any"})["error"]["code"] == -32601
    assert session.request("tasks/list")["error"]["code"] == -32601
