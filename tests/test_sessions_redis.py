"""2025 sessions shared through Redis: any replica serves any session, with no sticky routing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from conftest import Running, free_port, modern_call, sse_messages, start_server, stop_server
from pg import PrivateRedis

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _post(http: httpx.Client, server: Running, session: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(server.url, json=body, headers={**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"})


def test_a_session_opened_on_one_replica_is_served_by_another(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_STATE_KEYS": "shared"}
    first, second = (start_server("tests/servers/everything.py", env=env) for _ in range(2))
    try:
        with httpx.Client(timeout=10) as http:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            session = http.post(first.url, json=init, headers=HEADERS).headers["mcp-session-id"]
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 2}}}
            assert _post(http, second, session, call).json()["result"]["structuredContent"] == {"result": 4}
            # State negotiated on one replica holds on the other.
            assert _post(http, first, session, {"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
                                                "params": {"level": "warning"}}).json()["result"] == {}
            chatty = _post(http, second, session, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                                   "params": {"name": "chatty", "arguments": {}}})
            levels = [m["params"]["level"] for m in sse_messages(chatty.text) if m.get("method") == "notifications/message"]
            assert levels == ["warning"]
            # Ended on one, gone on both.
            assert http.delete(second.url, headers={**HEADERS, "mcp-session-id": session}).status_code == 200
            assert _post(http, first, session, call).status_code == 404
            # Redis down: a clear 503, not a 500, and the stateless era keeps working.
            other = http.post(first.url, json=init, headers=HEADERS).headers["mcp-session-id"]
            redis.stop()
            refused = _post(http, second, other, call)
            assert refused.status_code == 503 and "Session store unavailable" in refused.json()["error"]["message"]
            assert refused.json()["error"]["code"] == -32603 and refused.headers["retry-after"] == "1"  # retryable, not -32600
            modern = modern_call(http, second.url, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}})
            assert modern.json()["result"]["structuredContent"] == {"result": 2}
    finally:
        stop_server(first)
        stop_server(second)
        redis.stop()


def test_a_shared_session_stays_bound_to_its_principal_on_every_replica(tmp_path: Path) -> None:
    from bosun.security.apikeys import hash_key

    alice, bob = "bsk_alice-session-key-000000000000000000000000", "bsk_bob-session-key-0000000000000000000000000000"
    keys = tmp_path / "keys"
    keys.write_text(f"alice {hash_key(alice)}\nbob {hash_key(bob)}\n")
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_AUTH_API_KEYS_FILE": str(keys)}
    first, second = (start_server("tests/servers/everything.py", env=env) for _ in range(2))
    try:
        with httpx.Client(timeout=10) as http:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            session = http.post(first.url, json=init, headers={**HEADERS, "x-api-key": alice}).headers["mcp-session-id"]
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
            assert http.post(second.url, json=ping, headers={**headers, "x-api-key": alice}).status_code == 200
            assert http.post(second.url, json=ping, headers={**headers, "x-api-key": bob}).status_code == 404
            assert http.post(first.url, json=ping, headers={**headers, "x-api-key": bob}).status_code == 404
            assert http.post(second.url, json=ping, headers=headers).status_code == 401
    finally:
        stop_server(first)
        stop_server(second)
        redis.stop()
