"""What tests/test_tasks.py and tests/test_tasks_legacy.py share: clients for both task eras, over plain HTTP.

Hand-rolled on purpose (httpx, no SDK), so each wire detail a test checks is the one the server sent. The server
they drive is tests/servers/tasks.py, with the in-memory store or with a private Redis (`REDIS_URL`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis as redis_py
from polling import eventually

from bosun.security.apikeys import hash_key
from conftest import Running, meta, modern_headers, sse_messages, start_server, stop_server
from pg import PrivateRedis

SERVER = "tests/servers/tasks.py"
EXTENSION = "io.modelcontextprotocol/tasks"
DECLARING = {"extensions": {EXTENSION: {}}, "elicitation": {}}
LEGACY = "2025-11-25"
# Shutdown must not wait for runs a test left behind (the default grace is 10 s).
QUICK_EXIT = {"BOSUN_TASKS_GRACE_SECONDS": "0"}
ALICE = "bsk_alice-tasks-key-" + "a" * 32
BOB = "bsk_bob-tasks-key-" + "b" * 32


def api_keys(directory: Path) -> dict[str, str]:
    """The environment for a server with two API-key callers, alice and bob (principals `apikey#alice`, `apikey#bob`)."""
    keys = directory / "api-keys"
    keys.write_text(f"alice {hash_key(ALICE)}\nbob {hash_key(BOB)}\n")
    return {"BOSUN_AUTH_API_KEYS_FILE": str(keys)}




class Tasks:
    """A 2026-07-28 caller: every request carries its `_meta`, declaring the extension unless told otherwise."""

    def __init__(self, http: httpx.Client, server: Running, key: str | None = None) -> None:
        self.http = http
        self.server = server
        self.key = key

    def post(self, method: str, params: dict[str, Any], *, declare: bool = True, name: str | None = None) -> httpx.Response:
        params = {**params, "_meta": meta(DECLARING if declare else {})}
        if name is None:
            name = params.get("name") if method == "tools/call" else params.get("taskId")
        headers = modern_headers(method, name)
        if self.key is not None:
            headers["authorization"] = f"Bearer {self.key}"
        return self.http.post(self.server.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                              headers=headers)

    def result(self, method: str, params: dict[str, Any], **options: Any) -> dict[str, Any]:
        response = self.post(method, params, **options)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "result" in body, body
        return dict(body["result"])

    def error(self, method: str, params: dict[str, Any], **options: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON-RPC error) of a request that must fail."""
        response = self.post(method, params, **options)
        body = response.json()
        assert "error" in body, body
        return response.status_code, dict(body["error"])

    def create(self, tool: str, arguments: dict[str, Any] | None = None) -> str:
        created = self.result("tools/call", {"name": tool, "arguments": arguments or {}})
        assert created["resultType"] == "task", created
        return str(created["taskId"])

    def get(self, task_id: str) -> dict[str, Any]:
        return self.result("tasks/get", {"taskId": task_id})

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self.result("tasks/cancel", {"taskId": task_id})

    def update(self, task_id: str, responses: dict[str, Any]) -> dict[str, Any]:
        return self.result("tasks/update", {"taskId": task_id, "inputResponses": responses})

    def wait(self, task_id: str, status: str, seconds: float = 5.0) -> dict[str, Any]:
        """Poll `tasks/get` until the task has `status`."""
        return eventually(lambda: (task := self.get(task_id))["status"] == status and task, seconds, f"status {status}")


class Session:
    """A 2025 session (initialize, then `Mcp-Session-Id` on every request), hand-rolled."""

    def __init__(self, http: httpx.Client, server: Running, version: str = LEGACY, key: str | None = None,
                 capabilities: dict[str, Any] | None = None) -> None:
        self.http = http
        self.url = server.url
        self.headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if key is not None:
            self.headers["authorization"] = f"Bearer {key}"
        response = http.post(self.url, headers=self.headers, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": capabilities or {},
                       "clientInfo": {"name": "tasks-tests", "version": "0"}}})
        assert response.status_code == 200, response.text
        self.init: dict[str, Any] = response.json()["result"]
        self.headers.update({"mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": version})
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
        self.next_id = 0

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.url, headers=self.headers, json=body)

    def body(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        return {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON-RPC response (its `result` or `error`), from a JSON body or the last event of a stream."""
        response = self.post(self.body(method, params or {}))
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("text/event-stream"):
            return sse_messages(response.text)[-1]
        return dict(response.json())

    def streamed(self, method: str, params: dict[str, Any],
                 answer: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
        """POST a request and read its stream to the end; each server-to-client request on it is answered with
        `answer(request)` in a second POST on the session. Returns every message the stream carried."""
        seen: list[dict[str, Any]] = []
        with self.http.stream("POST", self.url, headers=self.headers, json=self.body(method, params)) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:") or not line[5:].strip():
                    continue  # an event's other fields, or the priming event (an id, empty data)
                message = json.loads(line[5:])
                seen.append(message)
                if "method" in message and "id" in message:
                    reply = {"jsonrpc": "2.0", "id": message["id"], "result": answer(message)}
                    assert self.post(reply).status_code == 202
                if "result" in message or "error" in message:
                    break
        return seen


class Servers:
    """Task servers a test starts (`start(env)`), on its `backend`: in memory, or on the module's private Redis, emptied
    first so no earlier test's tasks count against the caps. `close()` stops them all."""

    def __init__(self, request: Any, log: Path) -> None:
        callspec = getattr(request.node, "callspec", None)
        self.redis: PrivateRedis | None = None
        if callspec is not None and callspec.params.get("backend") == "redis":
            self.redis = request.getfixturevalue("private_redis")
        self.log = log
        self.started: list[Running] = []

    def __call__(self, env: dict[str, str] | None = None) -> Running:
        full = {**QUICK_EXIT, **(env or {})}
        if self.redis is not None:
            redis_py.Redis.from_url(self.redis.url).flushall()
            full["REDIS_URL"] = self.redis.url
        running = start_server(SERVER, env=full, log=self.log)
        self.started.append(running)
        return running

    def close(self) -> None:
        for running in self.started:
            stop_server(running)
