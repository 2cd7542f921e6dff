"""Connection limits: no client, however slow, idle or large, delays the others or the probes.

Raw sockets for the hostile clients (tests/attackers.py runs them in a process of their own);
httpx for the well-behaved client whose latency is measured.
"""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Running, modern_call, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def limited() -> Iterator[Running]:
    running = start_server("tests/servers/everything.py",
                           env={"BOSUN_HEADER_TIMEOUT": "2", "BOSUN_BODY_TIMEOUT": "2", "BOSUN_MAX_CONNECTIONS": "500"})
    yield running
    stop_server(running)


def _port(running: Running) -> int:
    return int(running.base.rsplit(":", 1)[1])


def _exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    """Send `data` (all of it, before reading, as simple clients do) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:
            pass
        return received


def _post_head(port: int, length: int | None, extra: bytes = b"") -> bytes:
    head = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\nMCP-Method: tools/list\r\n" % port)
    if length is not None:
        head += b"Content-Length: %d\r\n" % length
    return head + extra + b"\r\n"


def test_a_head_past_the_size_or_field_limit_is_refused_with_431(limited: Running) -> None:
    port = _port(limited)
    answer = _exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
    assert b'"code":-32600' in answer and b"32768 bytes" in answer
    many = b"".join(b"X-H%d: 1\r\n" % index for index in range(150))
    answer = _exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and b"100 header fields" in answer
    # A head just under the limit is fine.
    answer = _exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Fat: " + b"a" * 30_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_head_or_body_that_does_not_arrive_in_time_gets_408(limited: Running) -> None:
    port = _port(limited)
    started = time.monotonic()
    answer = _exchange(port, b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and then nothing
    assert answer.startswith(b"HTTP/1.1 408") and b'"code":-32600' in answer
    assert 1.5 < time.monotonic() - started < 4
    started = time.monotonic()
    answer = _exchange(port, _post_head(port, 100) + b'{"jsonrpc"')  # 10 of 100 bytes, then nothing
    assert answer.startswith(b"HTTP/1.1 408")
    assert 1.5 < time.monotonic() - started < 4
    # A connection that never sends anything is closed without a word.
    started = time.monotonic()
    assert _exchange(port, b"") == b""
    assert 1.5 < time.monotonic() - started < 4


def test_a_body_over_the_limit_gets_a_413_the_client_reads_and_the_connection_survives(limited: Running) -> None:
    port = _port(limited)
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"' + b"a" * (10 * 1024 * 1024) + b'"}}'
    small = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                             "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_post_head(port, len(body)) + body)  # all of it first, as most clients do
        sock.sendall(_post_head(port, len(small)) + small)  # then a good request on the same connection
        received = b""
        while b"HTTP/1.1 200" not in received or not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    assert received.startswith(b"HTTP/1.1 413") and b"4194304 bytes" in received
    assert b"HTTP/1.1 200" in received and b'"tools"' in received
    # Chunked, with no declared length: the same.
    head = _post_head(port, None, b"Transfer-Encoding: chunked\r\nConnection: close\r\n")
    chunked = head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    assert _exchange(port, chunked, wait=10).startswith(b"HTTP/1.1 413")


def test_when_every_connection_is_busy_new_ones_get_503_and_probes_still_answer() -> None:
    running = start_server("tests/servers/everything.py", env={"BOSUN_MAX_CONNECTIONS": "8"})
    port = _port(running)
    sleepers = []
    try:
        for index in range(8):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            body = json.dumps({"jsonrpc": "2.0", "id": index, "method": "tools/call",
                               "params": {"name": "nap", "arguments": {"seconds": 3},
                                          "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                                    "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
            head = _post_head(port, len(body)).replace(b"MCP-Method: tools/list", b"MCP-Method: tools/call\r\nMCP-Name: nap")
            sock.sendall(head + body)
            sleepers.append(sock)
        time.sleep(0.3)
        with httpx.Client(timeout=5) as http:
            response = modern_call(http, running.url, "tools/list")
            assert response.status_code == 503 and response.headers["retry-after"] == "1"
            assert response.json()["error"]["code"] == -32603
            started = time.monotonic()
            assert http.get(running.base + "/health").status_code == 200
            assert time.monotonic() - started < 1
        for sock in sleepers:
            sock.settimeout(10)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # the busy ones finish normally
    finally:
        for sock in sleepers:
            sock.close()
        stop_server(running)


def test_slowloris_idle_floods_and_huge_heads_do_not_delay_a_normal_client_or_the_probes(limited: Running) -> None:
    """2,000 idle connections (4x the cap of 500), 200 slowloris connections and a stream of 100 MB heads,
    from another process, for 8 s: a normal client's calls and the probes stay fast throughout."""
    port = _port(limited)
    attack = subprocess.Popen([sys.executable, str(ROOT / "tests" / "attackers.py"), str(port), "8", "idle=2000",
                               "slowloris=200", "big_header=2"], stdout=subprocess.PIPE, text=True)
    calls: list[float] = []
    probes: list[float] = []
    failures: list[str] = []
    time.sleep(1.5)  # let the flood build up
    deadline = time.monotonic() + 5.5
    gc.collect()
    gc.disable()  # measure the server, not a collection pause in this (by now large) test process
    with httpx.Client(timeout=5) as http:
        while time.monotonic() < deadline:
            for sample, request in ((calls, lambda: modern_call(http, limited.url, "tools/call",
                                                                {"name": "add", "arguments": {"a": 1, "b": 2}})),
                                    (probes, lambda: http.get(limited.base + "/health"))):
                started = time.monotonic()
                try:
                    response = request()
                    if response.status_code != 200:
                        failures.append(f"http {response.status_code}")
                except httpx.TransportError as exc:
                    failures.append(type(exc).__name__)
                sample.append(time.monotonic() - started)
            time.sleep(0.02)
    gc.enable()
    with httpx.Client(timeout=5) as fresh:  # and a client that connects now is served too
        started = time.monotonic()
        assert modern_call(fresh, limited.url, "tools/list").status_code == 200
        fresh_seconds = time.monotonic() - started
    stats = json.loads(attack.communicate(timeout=30)[0])
    calls.sort()
    print(f"attack: {stats}; {len(calls)} calls, median {calls[len(calls) // 2] * 1000:.1f} ms, "
          f"max {calls[-1] * 1000:.1f} ms; probe max {max(probes) * 1000:.1f} ms; fresh connection {fresh_seconds * 1000:.1f} ms")
    assert not failures, failures[:5]
    assert stats["idle_opened"] == 2000 and stats["idle_closed_by_server"] >= 1500  # the cap held: idle ones were let go
    assert stats["slowloris_408"] > 0 and stats["big_header_cut_off"] > 0 and stats["big_header_sent_whole"] == 0
    assert len(calls) > 50
    assert calls[-1] < 0.05, f"slowest call {calls[-1] * 1000:.1f} ms"
    assert max(probes) < 1.0
    assert fresh_seconds < 0.5


def test_the_limits_are_validated_settings() -> None:
    run = subprocess.run([sys.executable, "-m", "bosun", "serve", "tests/servers/everything.py"], cwd=ROOT,
                         env={"PATH": "", "BOSUN_MAX_HEADER_BYTES": "10"}, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "BOSUN_MAX_HEADER_BYTES" in run.stderr



def _read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """Read `count` complete responses (sized, or chunked) from a keep-alive connection."""
    buffered, responses = b"", []
    while len(responses) < count:
        head_end = buffered.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffered[:head_end].lower()
            if b"content-length:" in head:
                end = head_end + 4 + int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            else:
                last = buffered.find(b"\r\n0\r\n\r\n", head_end)
                end = last + 7 if last >= 0 else len(buffered) + 1
            if len(buffered) >= end:
                responses.append(buffered[:end])
                buffered = buffered[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(responses)} of {count} responses"
        buffered += chunk
    return responses


def test_idle_keep_alive_connections_close_on_time_and_pipelined_requests_are_all_answered() -> None:
    running = start_server("tests/servers/everything.py", env={"BOSUN_KEEPALIVE_TIMEOUT": "1"})
    port = _port(running)
    probe = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(probe * 3)  # pipelined: each waits for the one before, none is lost
            assert [response.split(b"\r\n", 1)[0] for response in _read_responses(sock, 3)] == [b"HTTP/1.1 200 OK"] * 3
            for _ in range(4):  # a connection in use stays open past the idle timeout
                time.sleep(0.5)
                sock.sendall(probe)
                assert _read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200 OK")
            answered = time.monotonic()
            assert sock.recv(1) == b""  # then, idle, it is closed without a word
            idle = time.monotonic() - answered
        assert 0.9 <= idle <= 2.5, idle  # the 1 s timeout, checked twice a second
    finally:
        stop_server(running)
