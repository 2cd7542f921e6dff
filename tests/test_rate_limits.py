"""Rate limits per caller and per tool: shared by replicas through Redis, per process without it, open when Redis fails."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx

from bosun.security.apikeys import hash_key
from conftest import Running, free_port, modern_headers, start_server, stop_server
from pg import PrivateRedis

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}}


def keys_file(directory: Path) -> tuple[Path, str, str]:
    alice, bob = "bsk_alice-test-key-0000000000000000000000000000", "bsk_bob-test-key-00000000000000000000000000000"
    path = directory / "keys"
    path.write_text(f"alice {hash_key(alice)} mcp\nbob {hash_key(bob)} mcp\n")
    return path, alice, bob


def call(http: httpx.Client, server: Running, key: str, tool: str = "echo") -> httpx.Response:
    arguments = {"n": 1} if tool == "expensive" else {"text": "x"}
    body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": arguments, "_meta": META}}
    return http.post(server.url, json=body, headers={**modern_headers("tools/call", tool), "x-api-key": key})


def test_limits_are_shared_by_two_replicas_through_redis_and_fail_open(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    path, alice, bob = keys_file(tmp_path)
    env = {"REDIS_URL": redis.url, "BOSUN_AUTH_API_KEYS_FILE": str(path), "BOSUN_RATE_LIMIT": "10/minute"}
    metrics_ports = [free_port(), free_port()]  # with authentication on, /metrics is served on its own port only
    replicas = [start_server("tests/servers/secure.py", env={**env, "BOSUN_METRICS_PORT": str(port)}) for port in metrics_ports]
    try:
        with httpx.Client(timeout=10) as http:
            # Per caller: ten a minute in all, whichever replica each request lands on.
            answers = [call(http, replica, alice) for replica, _ in zip(itertools.cycle(replicas), range(12), strict=False)]
            assert [a.status_code for a in answers] == [200] * 10 + [429] * 2
            refused = answers[-1]
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            error = refused.json()
            assert error["id"] == 3 and error["error"]["code"] == -32029
            assert error["error"]["data"]["retryAfter"] == int(refused.headers["retry-after"])
            assert call(http, replicas[0], bob).status_code == 200  # another caller has its own bucket
            # Per tool: `expensive` allows three a minute per caller, on top of the caller's own limit.
            tool = [call(http, replica, bob, "expensive").status_code for replica in (*replicas, *replicas)]
            assert tool == [200, 200, 200, 429]
            # Redis goes down: calls keep working (fail open), counted in metrics.
            redis.stop()
            after = [call(http, replica, alice).status_code for replica in (*replicas, *replicas)]
            assert after == [200] * 4
            metrics = http.get(f"http://127.0.0.1:{metrics_ports[0]}/metrics").text
            assert 'bosun_security_events_total{event="ratelimit_fail_open"}' in metrics
            assert 'mcp_auth_refusals_total{reason="rate_limited",status="429"}' in metrics
    finally:
        for replica in replicas:
            stop_server(replica)
        redis.stop()


def test_without_redis_each_process_limits_alone(tmp_path: Path) -> None:
    path, alice, _ = keys_file(tmp_path)
    server = start_server("tests/servers/secure.py", env={"BOSUN_AUTH_API_KEYS_FILE": str(path), "BOSUN_RATE_LIMIT": "3/s"})
    try:
        with httpx.Client(timeout=10) as http:
            codes = [call(http, server, alice).status_code for _ in range(5)]
            assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    finally:
        stop_server(server)


def test_open_servers_limit_by_client_address(tmp_path: Path) -> None:
    server = start_server("tests/servers/secure.py", env={"BOSUN_RATE_LIMIT": "2/minute"})
    try:
        with httpx.Client(timeout=10) as http:
            assert [call(http, server, "").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        stop_server(server)
