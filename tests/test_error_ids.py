"""Every JSON-RPC error for a request with a valid id carries that id, so a client can match it.

Regression: the session store's 503 (Redis down, a session this replica does not hold) and the
2025 endpoint's session refusals were answered with no id; the official client could then only say
"Server returned an error response", and a client whose write had committed was told it failed.
Refusals decided before the body is read (401, 406, 413, 415, 421, the decoding budget's 503) carry
a null id, since there is no id to give without reading the body: docs/operations.md says so.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from conftest import Running, free_port, meta, modern_headers, start_server, stop_server
from pg import PrivateRedis

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
LEGACY = "2025-11-25"
CALL = {"jsonrpc": "2.0", "id": "req-7", "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, response.text
    return dict(body)


def _initialize(http: httpx.Client, url: str) -> str:
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    return http.post(url, json=init, headers=HEADERS).headers["mcp-session-id"]


def test_session_refusals_carry_the_request_id(server: Running) -> None:
    with httpx.Client(timeout=10) as http:
        session = _initialize(http, server.url)
        versioned = {**HEADERS, "mcp-protocol-version": LEGACY}
        cases = {
            "no session header": (http.post(server.url, json=CALL, headers=versioned), 400),
            "unknown session": (http.post(server.url, json=CALL, headers={**versioned, "mcp-session-id": "nope"}), 404),
            "wrong version header": (http.post(server.url, json=CALL, headers={**HEADERS, "mcp-session-id": session,
                                                                              "mcp-protocol-version": "1999-01-01"}), 400),
            "not JSON-RPC": (http.post(server.url, json={**CALL, "method": 5}, headers={**versioned, "mcp-session-id": session}), 400),
            "initialize with bad params": (http.post(server.url, headers=HEADERS, json={
                "jsonrpc": "2.0", "id": "req-7", "method": "initialize", "params": "x"}), 400),
        }
        for label, (response, status) in cases.items():
            assert response.status_code == status, (label, response.text)
            assert _error(response)["id"] == "req-7", (label, response.text)
        # An id that is not a valid MCP id is never echoed.
        odd = http.post(server.url, json={**CALL, "id": 1.5}, headers={**versioned, "mcp-session-id": "nope"})
        assert odd.status_code == 404 and _error(odd).get("id") is None


def test_the_session_store_503_carries_the_request_id(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_STATE_KEYS": "shared"}
    first, second = (start_server("tests/servers/everything.py", env=env) for _ in range(2))
    try:
        with httpx.Client(timeout=10) as http:
            session = _initialize(http, first.url)  # held by the first replica only
            redis.stop()
            headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
            refused = http.post(second.url, json={**CALL, "id": 41}, headers=headers)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
            body = _error(refused)
            assert body["id"] == 41 and body["error"]["code"] == -32603
            assert "Session store unavailable" in body["error"]["message"]
            refused = http.post(second.url, json={**CALL, "id": "x-9"}, headers=headers)
            assert refused.status_code == 503 and _error(refused)["id"] == "x-9"
    finally:
        stop_server(first)
        stop_server(second)
        redis.stop()


def test_a_listen_refused_for_too_many_streams_carries_its_id() -> None:
    running = start_server("tests/servers/everything.py", env={"BOSUN_MAX_STREAMS": "1"})
    opened = threading.Event()
    stop = threading.Event()

    def hold() -> None:
        body = {"jsonrpc": "2.0", "id": "first", "method": "subscriptions/listen",
                "params": {"_meta": meta(), "notifications": {"toolsListChanged": True}}}
        with httpx.Client(timeout=10) as http, http.stream("POST", running.url, json=body,
                                                           headers=modern_headers("subscriptions/listen")) as stream:
            for _ in stream.iter_lines():
                opened.set()
                if stop.is_set():
                    return

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        assert opened.wait(5)
        with httpx.Client(timeout=10) as http:
            body = {"jsonrpc": "2.0", "id": "second", "method": "subscriptions/listen",
                    "params": {"_meta": meta(), "notifications": {"toolsListChanged": True}}}
            refused = http.post(running.url, json=body, headers=modern_headers("subscriptions/listen"))
            assert refused.status_code == 503 and _error(refused)["id"] == "second", refused.text
    finally:
        stop.set()
        stop_server(running)
        holder.join(5)
