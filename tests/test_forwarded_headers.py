"""X-Forwarded-For is believed only from configured proxies: by default every limit keyed on a client's address
(the rate limit, the per-client session cap, the audit record's `peer`) uses the real TCP peer.

Each test connects from loopback, the address uvicorn would otherwise trust by default, and sends a
different made-up X-Forwarded-For on each request, as a client that wants a fresh identity each time would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bosun.config import ConfigError, load_settings
from bosun.security.apikeys import hash_key
from conftest import BOSUN, Running, free_port, modern_headers, start_server, stop_server

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}}
LEGACY = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def echo(http: httpx.Client, url: str, forwarded_for: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}, "_meta": META}}
    return http.post(url, json=body, headers={**modern_headers("tools/call", "echo"), "x-forwarded-for": forwarded_for})


def statuses(running: Running, addresses: list[str]) -> list[int]:
    with httpx.Client(timeout=10) as http:
        return [echo(http, running.url, address).status_code for address in addresses]


DISTINCT = [f"203.0.113.{n}" for n in range(1, 11)]


def test_the_rate_limit_keys_on_the_real_peer_whatever_x_forwarded_for_says() -> None:
    running = start_server("tests/servers/everything.py", env={"BOSUN_RATE_LIMIT": "5/minute"})
    try:
        assert statuses(running, DISTINCT) == [200] * 5 + [429] * 5
    finally:
        stop_server(running)


def test_the_session_cap_per_client_counts_the_real_peer() -> None:
    """110 sessions from one peer claiming 110 addresses: the cap of 100 holds, the 10 least recently used go."""
    running = start_server("tests/servers/everything.py")
    try:
        with httpx.Client(timeout=10) as http:
            sessions = []
            for n in range(110):
                opened = http.post(running.url, headers={**LEGACY, "x-forwarded-for": f"198.51.100.{n}"}, json={
                    "jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
                assert opened.status_code == 200
                sessions.append(opened.headers["mcp-session-id"])
            alive = [http.post(running.url, headers={**LEGACY, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"},
                               json={"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code for session in sessions]
        assert alive == [404] * 10 + [200] * 100
    finally:
        stop_server(running)


def test_audit_records_the_real_peer_with_several_workers(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"alice {hash_key('bsk_alice-forwarded-0000000000000000000000000000')} mcp\n")
    audit = tmp_path / "audit.jsonl"
    running = start_server("tests/servers/secure.py", args=["--workers", "2"],
                           env={"BOSUN_AUTH_API_KEYS_FILE": str(keys), "BOSUN_AUDIT_LOG": str(audit)})
    try:
        assert statuses(running, DISTINCT[:6]) == [401] * 6  # no credential: refused, and audited with the peer
    finally:
        stop_server(running)  # flushes the buffered records
    peers = [json.loads(line)["audit"]["peer"] for line in audit.read_text().splitlines()]
    assert peers == ["127.0.0.1"] * 6


@pytest.mark.parametrize("variable", ["BOSUN_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"])
def test_configured_proxies_are_believed(variable: str) -> None:
    """Behind a proxy the setting names (or uvicorn's own variable), the forwarded address is the client's."""
    running = start_server("tests/servers/everything.py", env={"BOSUN_RATE_LIMIT": "5/minute", variable: "127.0.0.0/8"})
    try:
        assert statuses(running, DISTINCT) == [200] * 10  # ten clients behind the proxy, one request each
        # The proxy appends the address it saw; what the client itself claimed, further left, is not believed.
        assert statuses(running, [f"10.9.9.{n}, 192.0.2.50" for n in range(6)]) == [200] * 5 + [429]
    finally:
        stop_server(running)


def test_bosun_dev_does_not_believe_x_forwarded_for_either(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([BOSUN, "dev", "tests/servers/everything.py", "--port", str(port), "--log-level", "warning"],
                               env={**os.environ, "BOSUN_RATE_LIMIT": "5/minute"}, cwd=Path(__file__).parent.parent,
                               start_new_session=True)
    try:
        running = Running(process, f"http://127.0.0.1:{port}/mcp")
        deadline = time.monotonic() + 20
        while True:
            try:
                with httpx.Client(timeout=2) as http:
                    http.get(running.base + "/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "bosun dev did not start"
                time.sleep(0.1)
        assert statuses(running, DISTINCT) == [200] * 5 + [429] * 5
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def test_a_proxy_list_that_is_not_addresses_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_FORWARDED_ALLOW_IPS", "10.0.0.0/8, ingress-nginx")
    with pytest.raises(ConfigError, match="BOSUN_FORWARDED_ALLOW_IPS.*ingress-nginx"):
        load_settings()
    for ignored_by_uvicorn in ("10.0.0.5/8", "*, 10.0.0.0/8"):  # uvicorn would trust nobody, or not everyone
        monkeypatch.setenv("BOSUN_FORWARDED_ALLOW_IPS", ignored_by_uvicorn)
        with pytest.raises(ConfigError, match="BOSUN_FORWARDED_ALLOW_IPS"):
            load_settings()
    monkeypatch.setenv("BOSUN_FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.168.1.7")
    assert load_settings().forwarded() == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.0/8,192.168.1.7"}
    monkeypatch.delenv("BOSUN_FORWARDED_ALLOW_IPS")
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert load_settings().forwarded() == {"proxy_headers": False}
