"""`notifications/tasks` on a 2026-07-28 `subscriptions/listen` stream (SEP-2663 `io.modelcontextprotocol/tasks`),
against real servers: over HTTP with two API-key callers (whose tasks a stream may watch), over stdio, and on two
replicas sharing a private Redis (the stream on one, the task created on the other)."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_stdio import Raw

from bosun.security.apikeys import hash_key
from conftest import BOSUN, Running, free_port, meta, modern_headers, start_server, stop_server
from pg import PrivateRedis

EXTENSION = "io.modelcontextprotocol/tasks"
TASKS = {"extensions": {EXTENSION: {}}}
ASKING = {"extensions": {EXTENSION: {}}, "elicitation": {}}
SUBSCRIPTION = "io.modelcontextprotocol/subscriptionId"
ALICE, BOB = "bsk_tasks-listen-alice-000000000000000000000000", "bsk_tasks-listen-bob-00000000000000000000000000"

SERVER = '''
import asyncio

from pydantic import BaseModel

from bosun import Context, Server

server = Server("tasks-listen", "1.0.0")


class Approval(BaseModel):
    approve: bool


@server.tool(task="optional")
async def approval(label: str, ctx: Context) -> str:
    """working, then input_required (a question), then working with a message, then completed."""
    await asyncio.sleep(0.6)
    answer = await ctx.elicit(f"Approve {label}?", Approval)
    await ctx.report_status("approved; finishing")
    await asyncio.sleep(0.6)
    return f"{label}: {answer.action}"


@server.tool(task="optional")
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@server.tool()
def tools_changed() -> str:
    server.notify_tools_changed()
    return "ok"

'''


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tasks-listen") / "server.py"
    path.write_text(SERVER)
    return path


@pytest.fixture(scope="module")
def secured(served: Path) -> Iterator[Running]:
    keys = served.parent / "keys"
    keys.write_text(f"alice {hash_key(ALICE)}\nbob {hash_key(BOB)}\n")
    running = start_server(str(served), env={"BOSUN_AUTH_API_KEYS_FILE": str(keys)})
    yield running
    stop_server(running)


def post(url: str, key: str | None, method: str, params: dict[str, Any], capabilities: dict[str, Any] | None = None,
         request_id: Any = 1) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta(capabilities)}}
    headers = modern_headers(method, params.get("name") if method == "tools/call" else None)
    if key is not None:
        headers["x-api-key"] = key
    with httpx.Client(timeout=10) as http:
        return http.post(url, json=body, headers=headers)


def create(url: str, key: str | None, tool: str, arguments: dict[str, Any], capabilities: dict[str, Any] = TASKS) -> str:
    answer = post(url, key, "tools/call", {"name": tool, "arguments": arguments}, capabilities)
    result = answer.json()["result"]
    assert result["resultType"] == "task" and result["status"] == "working", answer.text
    return str(result["taskId"])


def task_get(url: str, key: str | None, task_id: str) -> dict[str, Any]:
    result = dict(post(url, key, "tasks/get", {"taskId": task_id}, TASKS).json()["result"])
    del result["resultType"], result["_meta"]
    return result


class Listening:
    """One `subscriptions/listen` stream, read on a thread into a queue."""

    def __init__(self, url: str, key: str | None, notifications: dict[str, Any], capabilities: dict[str, Any] = TASKS,
                 request_id: Any = "listen-1") -> None:
        body = {"jsonrpc": "2.0", "id": request_id, "method": "subscriptions/listen",
                "params": {"notifications": notifications, "_meta": meta(capabilities)}}
        headers = modern_headers("subscriptions/listen")
        if key is not None:
            headers["x-api-key"] = key
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=120))
        self.response = self.client.send(self.client.build_request("POST", url, json=body, headers=headers), stream=True)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # closed by the test
            for line in self.response.iter_lines():
                if line.startswith("data:"):
                    self.messages.put(json.loads(line[5:]))

    def next(self, timeout: float = 8) -> dict[str, Any]:
        return self.messages.get(timeout=timeout)

    def until(self, done: Any, timeout: float = 15) -> list[dict[str, Any]]:
        """Every message up to and including the first for which `done(message)` holds."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.1, deadline - time.monotonic()))
            seen.append(message)
            if done(message):
                return seen

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.response.close()
        self.client.close()


def _task_notes(messages: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    return [m["params"] for m in messages if m.get("method") == "notifications/tasks" and m["params"]["taskId"] == task_id]


def _ended(task_id: str) -> Any:
    return lambda m: (m.get("method") == "notifications/tasks" and m["params"]["taskId"] == task_id
                      and m["params"]["status"] in ("completed", "failed", "cancelled"))


def test_the_acknowledgement_agrees_only_to_the_callers_own_existing_tasks(secured: Running) -> None:
    mine = create(secured.url, ALICE, "slow", {"seconds": 30})
    theirs = create(secured.url, BOB, "slow", {"seconds": 30})
    stream = Listening(secured.url, ALICE, {"taskIds": [mine, theirs, "no-such-task", mine, 42, ""]})
    try:
        ack = stream.next()
        assert ack == {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                       "params": {"_meta": {SUBSCRIPTION: "listen-1"}, "notifications": {"taskIds": [mine]}}}
        first = stream.next()  # the current state, at once
        assert first["method"] == "notifications/tasks" and first["params"]["taskId"] == mine
        assert first["params"]["status"] == "working"
    finally:
        stream.close()
    outsider = Listening(secured.url, BOB, {"taskIds": [mine], "toolsListChanged": True}, request_id=7)
    try:
        assert outsider.next()["params"] == {"_meta": {SUBSCRIPTION: 7},
                                             "notifications": {"toolsListChanged": True, "taskIds": []}}
        post(secured.url, ALICE, "tools/call", {"name": "tools_changed", "arguments": {}})
        assert outsider.next()["method"] == "notifications/tools/list_changed"  # nothing of Alice's task came first
    finally:
        outsider.close()
    for key, task_id in ((ALICE, mine), (BOB, theirs)):
        post(secured.url, key, "tasks/cancel", {"taskId": task_id}, TASKS)


def test_a_listed_task_is_followed_through_input_to_completion(secured: Running) -> None:
    task_id = create(secured.url, ALICE, "approval", {"label": "ship"}, ASKING)
    unlisted = create(secured.url, ALICE, "slow", {"seconds": 0.3})
    stream = Listening(secured.url, ALICE, {"taskIds": [task_id], "toolsListChanged": True}, request_id=41)
    try:
        assert stream.next()["params"]["notifications"] == {"toolsListChanged": True, "taskIds": [task_id]}
        asked = stream.until(lambda m: m.get("method") == "notifications/tasks" and m["params"]["status"] == "input_required")
        question = asked[-1]["params"]
        assert question["taskId"] == task_id and "resultType" not in question
        assert question["_meta"] == {SUBSCRIPTION: 41}
        (key, request), = question["inputRequests"].items()
        assert request["method"] == "elicitation/create"
        shown = {k: v for k, v in question.items() if k != "_meta"}
        assert shown == task_get(secured.url, ALICE, task_id)  # the complete DetailedTask, as tasks/get has it
        post(secured.url, ALICE, "tools/call", {"name": "tools_changed", "arguments": {}})  # the stream's own kinds
        answered = post(secured.url, ALICE, "tasks/update",
                        {"taskId": task_id, "inputResponses": {key: {"action": "accept", "content": {"approve": True}}}},
                        TASKS)
        assert answered.json()["result"]["resultType"] == "complete", answered.text
        rest = stream.until(_ended(task_id))
        messages = asked + rest
        notes = _task_notes(messages, task_id)
        statuses = [note["status"] for note in notes]
        assert statuses[0] == "working" and statuses[-1] == "completed", statuses
        assert statuses.index("input_required") < len(statuses) - statuses[::-1].index("working") - 1, statuses
        assert any(note.get("statusMessage") == "approved; finishing" for note in notes), notes
        changed = [m for m in messages if m.get("method") == "notifications/tools/list_changed"]
        assert changed and changed[0]["params"] == {"_meta": {SUBSCRIPTION: 41}}
        assert all(m["params"]["_meta"] == {SUBSCRIPTION: 41} for m in messages)
        assert not any(m["params"].get("taskId") == unlisted for m in messages)  # it ended meanwhile, unlisted
        completed = {k: v for k, v in notes[-1].items() if k != "_meta"}
        assert completed["result"]["content"][0]["text"] == "ship: accept"
        assert completed == task_get(secured.url, ALICE, task_id)
        post(secured.url, ALICE, "tools/call", {"name": "tools_changed", "arguments": {}})
        time.sleep(0.8)  # several turns of the watch: an ended task is not reported again
        assert stream.next()["method"] == "notifications/tools/list_changed"
        with pytest.raises(queue.Empty):
            stream.next(0.5)
    finally:
        stream.close()


def test_listing_task_ids_needs_the_extension_on_the_listen_request(secured: Running) -> None:
    task_id = create(secured.url, ALICE, "slow", {"seconds": 0.2})
    refused = Listening(secured.url, ALICE, {"taskIds": [task_id], "toolsListChanged": True}, capabilities={})
    try:
        assert refused.response.status_code == 400
        error = json.loads(refused.response.read())["error"]
        assert error["code"] == -32021
        assert error["data"] == {"requiredCapabilities": {"extensions": {EXTENSION: {}}}}
    finally:
        refused.close()
    malformed = Listening(secured.url, ALICE, {"taskIds": task_id})
    try:
        assert malformed.response.status_code == 400
        assert json.loads(malformed.response.read())["error"]["code"] == -32602
    finally:
        malformed.close()
    plain = Listening(secured.url, ALICE, {"toolsListChanged": True}, capabilities={})  # no taskIds: no extension needed
    try:
        assert plain.next()["params"]["notifications"] == {"toolsListChanged": True}
        post(secured.url, ALICE, "tools/call", {"name": "tools_changed", "arguments": {}})
        assert plain.next()["method"] == "notifications/tools/list_changed"
    finally:
        plain.close()


def test_task_notifications_over_stdio(served: Path) -> None:
    raw = Raw([BOSUN, "serve", str(served), "--transport", "stdio"])
    raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "slow", "arguments": {"seconds": 0.8}, "_meta": meta(TASKS)}})
    created = raw.receive()["result"]
    task_id = created["taskId"]
    raw.send({"jsonrpc": "2.0", "id": "listen", "method": "subscriptions/listen",
              "params": {"notifications": {"taskIds": [task_id, "other"]}, "_meta": meta(TASKS)}})
    ack = raw.receive()
    assert ack["params"] == {"_meta": {SUBSCRIPTION: "listen"}, "notifications": {"taskIds": [task_id]}}
    working, completed = raw.receive(), raw.receive()
    assert working["method"] == completed["method"] == "notifications/tasks"
    assert working["params"]["status"] == "working" and working["params"]["_meta"] == {SUBSCRIPTION: "listen"}
    assert completed["params"]["status"] == "completed" and completed["params"]["result"]["content"][0]["text"] == "slept"
    raw.send({"jsonrpc": "2.0", "id": 2, "method": "subscriptions/listen",
              "params": {"notifications": {"taskIds": [task_id]}, "_meta": meta()}})
    assert raw.receive()["error"]["code"] == -32021
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "listen", "_meta": meta()}})
    out, _, _ = raw.finish()
    assert out == b""


def test_a_stream_on_one_replica_follows_a_task_created_on_another(served: Path, tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_STATE_KEYS": "shared"}
    replicas = [start_server(str(served), env=env) for _ in range(2)]
    stream: Listening | None = None
    try:
        for replica in replicas:
            deadline = time.monotonic() + 20
            while httpx.get(replica.base + "/ready").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        task_id = create(replicas[0].url, None, "slow", {"seconds": 1.0})
        stream = Listening(replicas[1].url, None, {"taskIds": [task_id]})
        assert stream.next()["params"]["notifications"] == {"taskIds": [task_id]}
        notes = _task_notes(stream.until(_ended(task_id)), task_id)
        assert [note["status"] for note in notes] == ["working", "completed"]
        assert notes[-1]["result"]["content"][0]["text"] == "slept"
    finally:
        if stream is not None:
            stream.close()
        for replica in replicas:
            stop_server(replica)
        redis.stop()
