"""Long requests outlive every connection timeout: a call, a 2025 GET stream and a 2026 listen stream.

The server runs with every connection deadline at 1 s (head, body, keep-alive), and each request is held
open for 3.5 s, on a fresh connection and on one that already carried a request, in both eras. The
connection layer's deadlines are for requests that are arriving or idle connections; once a request has
been read, its response takes as long as it takes (regression: these were cut at the header deadline on
a fresh connection and at the keep-alive timeout on a reused one, with nothing logged).

`http.client` holds exactly one connection per case, so "reused" is checked, not assumed.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mcp import Client

from conftest import Running, meta, modern_headers, start_server, stop_server

DEADLINE = 1.0  # every connection timeout of the server below
HOLD = 3.5  # how long each request stays open: more than 3x every deadline, plus the sweep's granularity
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
LEGACY = "2025-11-25"


@pytest.fixture(scope="module")
def strict() -> Iterator[Running]:
    env = {"BOSUN_HEADER_TIMEOUT": "1", "BOSUN_BODY_TIMEOUT": "1", "BOSUN_KEEPALIVE_TIMEOUT": "1"}
    running = start_server("tests/servers/everything.py", env=env)
    yield running
    stop_server(running)


def _connection(running: Running) -> http.client.HTTPConnection:
    host, port = running.base.removeprefix("http://").rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=HOLD + 5)


def _post(conn: http.client.HTTPConnection, body: dict[str, Any], headers: dict[str, str]) -> http.client.HTTPResponse:
    conn.request("POST", "/mcp", json.dumps(body).encode(), headers)
    return conn.getresponse()


def _modern(method: str, params: dict[str, Any], request_id: Any = 1) -> tuple[dict[str, Any], dict[str, str]]:
    name = params.get("name")
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta()}}
    return body, modern_headers(method, name if type(name) is str else None)


def _session(running: Running) -> dict[str, str]:
    conn = _connection(running)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    response = _post(conn, init, HEADERS)
    response.read()
    session = response.getheader("mcp-session-id")
    assert response.status == 200 and session
    headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
    response = _post(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers)
    response.read()
    conn.close()
    return headers


def _warm(conn: http.client.HTTPConnection, running: Running) -> object:
    """One quick request first, so the long one rides a connection that has already been answered."""
    conn.request("GET", "/health")
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return conn.sock


def _nap_result(response: http.client.HTTPResponse) -> dict[str, Any]:
    text = response.read().decode()
    if response.getheader("content-type", "").startswith("text/event-stream"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:") and '"result"' in line)
    return dict(json.loads(text))


def _call(running: Running, reused: bool, headers: dict[str, str] | None) -> str:
    conn = _connection(running)
    sock = _warm(conn, running) if reused else None
    started = time.monotonic()
    if headers is None:
        body, request_headers = _modern("tools/call", {"name": "nap", "arguments": {"seconds": HOLD}})
    else:
        body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "nap", "arguments": {"seconds": HOLD}}}
        request_headers = headers
    response = _post(conn, body, request_headers)
    result = _nap_result(response)
    assert response.status == 200 and not result["result"].get("isError"), result
    assert time.monotonic() - started >= HOLD
    if reused:
        assert conn.sock is sock, "the long call did not ride the warmed connection"
    conn.close()
    return "ok"


def _stream(running: Running, reused: bool, headers: dict[str, str] | None) -> str:
    """Open the stream, hold it past every deadline, then make a change: the stream must still deliver it."""
    conn = _connection(running)
    sock = _warm(conn, running) if reused else None
    if headers is None:
        body, request_headers = _modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, "listen")
        response = _post(conn, body, request_headers)
    else:
        conn.request("GET", "/mcp", headers={**headers, "accept": "text/event-stream"})
        response = conn.getresponse()
    assert response.status == 200 and response.getheader("content-type", "").startswith("text/event-stream")
    if reused:
        assert conn.sock is sock
    time.sleep(HOLD)
    changer = _connection(running)
    body, change_headers = _modern("tools/call", {"name": "tools_changed", "arguments": {}})
    changed = _post(changer, body, change_headers)
    changed.read()
    changer.close()
    assert changed.status == 200
    while True:
        line = response.fp.readline()
        assert line, "the stream was closed by the server"
        if line.startswith(b"data:") and b"notifications/tools/list_changed" in line:
            conn.close()
            return "ok"


CASES: dict[str, Callable[[Running, bool, dict[str, str] | None], str]] = {"call": _call, "stream": _stream}


def test_calls_and_streams_outlive_every_connection_timeout_on_fresh_and_reused_connections(strict: Running) -> None:
    outcomes: dict[str, str] = {}

    def run(label: str, case: Callable[[Running, bool, dict[str, str] | None], str], reused: bool,
            headers: dict[str, str] | None) -> None:
        try:
            outcomes[label] = case(strict, reused, headers)
        except Exception as failure:  # noqa: BLE001 - reported below, by case
            outcomes[label] = f"{type(failure).__name__}: {failure}"

    threads = []
    for era in ("2026", "2025"):
        for kind, case in CASES.items():
            for reused in (False, True):
                headers = _session(strict) if era == "2025" else None  # a session has one GET stream
                label = f"{era} {kind} on a {'reused' if reused else 'fresh'} connection"
                threads.append(threading.Thread(target=run, args=(label, case, reused, headers)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HOLD + 15)
    assert len(outcomes) == 8 and all(outcome == "ok" for outcome in outcomes.values()), outcomes


def test_an_idle_connection_still_closes_at_its_deadlines(strict: Running) -> None:
    """The other side of the fix: a connection that sends nothing, or idles after its answer, still goes."""
    conn = _connection(strict)
    conn.connect()
    started = time.monotonic()
    assert conn.sock.recv(1) == b""  # closed by the server without a word
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 1.5
    conn.close()
    conn = _connection(strict)
    _warm(conn, strict)
    started = time.monotonic()
    assert conn.sock.recv(1) == b""
    # The server's idle clock starts when it sent the answer, a little before this read saw it (0.99996 s was seen).
    assert DEADLINE - 0.05 <= time.monotonic() - started < DEADLINE + 1.5
    conn.close()


async def _official_call(url: str, mode: str) -> str:
    async with Client(url, mode=mode, read_timeout_seconds=HOLD + 10) as client:  # type: ignore[arg-type]
        result = await client.call_tool("nap", {"seconds": HOLD})
    assert not result.is_error
    return str(result.content[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_the_official_client_runs_a_call_longer_than_every_connection_timeout(strict: Running, mode: str) -> None:
    """The Python SDK's client (regression: in legacy mode it failed after the header deadline)."""
    started = time.monotonic()
    assert asyncio.run(_official_call(strict.url, mode)) == f"slept {HOLD}"
    assert time.monotonic() - started >= HOLD
