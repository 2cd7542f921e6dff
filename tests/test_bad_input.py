"""Malformed input gets a 4xx and a JSON-RPC error, never a 5xx or a traceback (issue 9's regression cases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import MODERN, Running, free_port, modern_call, modern_headers, start_server, stop_server

LEGACY = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def with_nested(body: dict[str, Any], depth: int, leaf: Any = 1) -> bytes:
    """`body` as JSON with the string "@nested@" replaced by `leaf` inside `depth` arrays (too deep for json.dumps)."""
    deep = b"[" * depth + json.dumps(leaf).encode() + b"]" * depth
    return json.dumps(body).encode().replace(b'"@nested@"', deep)


def meta(**extra: Any) -> dict[str, Any]:
    return {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}, **extra}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    log = tmp_path_factory.mktemp("bad-input") / "server.log"
    running = start_server("tests/servers/everything.py", log=log, env={"BOSUN_LOG_FORMAT": "json"})
    yield running, log
    stop_server(running)


def post(http: httpx.Client, server: Running, body: bytes | dict[str, Any] | list[Any], headers: dict[str, str]) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post(server.url, content=content, headers=headers)


def session(http: httpx.Client, server: Running, version: str = "2025-11-25") -> dict[str, str]:
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    answer = post(http, server, init, LEGACY)
    return {**LEGACY, "mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": version}


def test_issue_9_crash_inputs_get_4xx_or_a_json_rpc_error_never_a_5xx(target: tuple[Running, Path]) -> None:
    server, log = target
    modern_call = modern_headers("tools/call", "add")
    cases: list[tuple[str, bytes | dict[str, Any], dict[str, str]]] = [
        ("id nested 300 deep", with_nested({"jsonrpc": "2.0", "id": "@nested@", "method": "tools/list", "params": {"_meta": meta()}},
                                           300), modern_headers("tools/list")),
        ("protocol version nested 1000 deep",
         with_nested({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
                      "params": {"_meta": {**meta(), "io.modelcontextprotocol/protocolVersion": "@nested@"}}}, 1000, "x"),
         modern_headers("tools/list")),
        ("tool name nested 1000 deep",
         with_nested({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "@nested@", "_meta": meta()}}, 1000, "add"),
         modern_call),
        ("Context tool with deeply nested arguments",
         with_nested({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "confirm_action", "arguments": {"action": "@nested@"}, "_meta": meta()}}, 500, "x"),
         modern_headers("tools/call", "confirm_action")),
        ("completion with an object ref.name",
         {"jsonrpc": "2.0", "id": 1, "method": "completion/complete",
          "params": {"ref": {"type": "ref/prompt", "name": {}}, "argument": {"name": "language", "value": "p"}, "_meta": meta()}},
         modern_headers("completion/complete")),
    ]
    with httpx.Client(timeout=10) as http:
        for name, body, headers in cases:
            answer = post(http, server, body, headers)
            assert answer.status_code < 500, (name, answer.status_code, answer.text[:300])
            assert "error" in answer.json() or answer.json().get("result", {}).get("isError"), name
        origin = post(http, server, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}},
                      {**modern_headers("tools/list"), "origin": "http://[::1"})
        assert origin.status_code == 403 and origin.json()["error"]["code"] == -32600
        legacy = session(http, server)
        # A response that answers nothing of ours is refused (and logged), not silently accepted.
        stray = post(http, server, {"jsonrpc": "2.0", "id": {}, "result": {}}, legacy)
        assert stray.status_code == 400 and stray.json()["error"]["code"] == -32600
        cancelled = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": [1]}}
        assert post(http, server, cancelled, legacy).status_code == 202
        level = post(http, server, {"jsonrpc": "2.0", "id": 5, "method": "logging/setLevel", "params": {"level": {}}}, legacy)
        assert level.status_code == 200 and level.json()["error"]["code"] == -32602
        for name, body in [("initialize with jsonrpc 1.0", {"jsonrpc": "1.0", "id": 1, "method": "initialize", "params": {}}),
                           ("initialize with an object id", {"jsonrpc": "2.0", "id": {"a": 1}, "method": "initialize", "params": {}})]:
            answer = post(http, server, body, LEGACY)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == -32600, name
            assert "mcp-session-id" not in answer.headers, name
        deep = post(http, server, b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":' + b"[" * 65 + b"]" * 65 + b"}}",
                    modern_headers("tools/list"))
        assert deep.status_code == 400 and "nested deeper than 64" in deep.json()["error"]["message"]
        fine = post(http, server, b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":' + json.dumps(meta()).encode()
                    + b',"x":' + b"[" * 60 + b"]" * 60 + b"}}", modern_headers("tools/list"))
        assert fine.status_code == 200  # within the limit, with far more brackets than levels would not matter
    text = log.read_text()
    assert "Traceback" not in text and '"level":"error"' not in text, text[-2000:]


def test_cancelling_one_request_of_a_batch_leaves_the_rest_answered(target: tuple[Running, Path]) -> None:
    import threading
    import time

    server, _ = target
    with httpx.Client(timeout=10) as http:
        headers = session(http, server, "2025-03-26")
        batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nap", "arguments": {"seconds": 5}}},
                 {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}]
        answers: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: answers.append(httpx.post(server.url, json=batch, headers=headers, timeout=10)))
        started = time.monotonic()
        worker.start()
        time.sleep(0.4)
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
        assert post(http, server, cancel, headers).status_code == 202
        worker.join(10)
    assert answers and answers[0].status_code == 200, answers
    body = answers[0].text
    messages = json.loads(body) if body.lstrip().startswith("[") else next(
        json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and line[5:].strip().startswith("["))
    assert [message["id"] for message in messages] == [2]  # the cancelled request gets no response, the other its result
    assert messages[0]["result"]["structuredContent"] == {"result": 3}
    assert time.monotonic() - started < 4


def test_initialize_floods_evict_the_least_recently_used_idle_sessions_instead_of_locking_clients_out(tmp_path: Path) -> None:
    from bosun.security.apikeys import hash_key

    keys = {name: f"bsk_{name}-flood-key-00000000000000000000000000000000" for name in ("alice", "bob", "carol")}
    keys_file = tmp_path / "keys"
    keys_file.write_text("".join(f"{name} {hash_key(key)}\n" for name, key in keys.items()))
    metrics_port = free_port()  # with authentication on, /metrics is served on its own port only
    env = {"BOSUN_AUTH_API_KEYS_FILE": str(keys_file), "BOSUN_MAX_SESSIONS": "5", "BOSUN_MAX_SESSIONS_PER_CLIENT": "3",
           "BOSUN_METRICS_PORT": str(metrics_port)}
    server = start_server("tests/servers/everything.py", env=env)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    try:
        with httpx.Client(timeout=10) as http:
            def open_one(who: str) -> dict[str, str]:
                answer = post(http, server, init, {**LEGACY, "x-api-key": keys[who]})
                assert answer.status_code == 200, answer.text
                return {**LEGACY, "x-api-key": keys[who], "mcp-session-id": answer.headers["mcp-session-id"],
                        "mcp-protocol-version": "2025-11-25"}

            def alive(headers: dict[str, str]) -> bool:
                return post(http, server, ping, headers).status_code == 200

            alice = [open_one("alice") for _ in range(3)]
            assert alive(alice[0])  # alice[0] is now her most recently used
            alice.append(open_one("alice"))  # her fourth: her least recently used idle one (alice[1]) goes
            assert [alive(h) for h in alice] == [True, False, True, True]
            bob = [open_one("bob") for _ in range(2)]  # 5 in all now: alice 0, 2, 3 and bob 0, 1
            carol = open_one("carol")  # over the global cap: the least recently used idle session goes, not carol
            assert alive(carol)
            survivors = [alive(h) for h in (alice[0], alice[2], alice[3], *bob)]
            assert survivors.count(False) == 1 and survivors[0] is False  # alice[0] was used longest ago
            metrics = http.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert "mcp_sessions_active 5.0" in metrics and "mcp_sessions_evicted_total 2.0" in metrics
    finally:
        stop_server(server)


@pytest.mark.parametrize("responses", [{"confirm": 12345}, {"confirm": [1]}, None, [], "yes"])
def test_input_responses_that_are_not_result_objects_get_32602_before_any_tool_reads_them(
        server: Running, http: httpx.Client, responses: Any) -> None:
    response = modern_call(http, server.url, "tools/call",
                           {"name": "confirm_action", "arguments": {"action": "x"}, "inputResponses": responses})
    assert response.status_code == 200, response.text
    error = response.json()["error"]
    assert error["code"] == -32602 and "inputResponses" in error["message"]
