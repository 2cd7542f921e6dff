"""Per-request bounds: batch size, open streams, and the memory decoding requests may take."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_legacy_protocol import LegacyClient

from conftest import Running, meta, modern_call, modern_headers, start_server, stop_server


@pytest.fixture(scope="module")
def limited() -> Iterator[Running]:
    running = start_server("tests/servers/everything.py", env={"BOSUN_MAX_BATCH": "5", "BOSUN_MAX_STREAMS": "2"})
    yield running
    stop_server(running)


def _peak_rss_mb(running: Running) -> float:
    for line in Path(f"/proc/{running.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_batch_past_the_limit_is_refused_whole_with_a_clear_error(limited: Running) -> None:
    client = LegacyClient(limited.url, "2025-03-26")
    ping = [{"jsonrpc": "2.0", "id": index, "method": "ping"} for index in range(6)]
    response = client.post(ping)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32600 and "at most 5" in error["message"] and "BOSUN_MAX_BATCH" in error["message"]
    answered = client.post(ping[:5])
    assert answered.status_code == 200 and len(answered.json()) == 5
    client.close()


def test_streams_past_the_limit_get_503_until_one_closes(limited: Running) -> None:
    body = {"jsonrpc": "2.0", "id": "s", "method": "subscriptions/listen", "params": {"_meta": meta(), "notifications": {}}}
    with httpx.Client(timeout=10) as http:
        first = http.send(http.build_request("POST", limited.url, json=body, headers=modern_headers("subscriptions/listen")), stream=True)
        legacy = LegacyClient(limited.url)
        second = legacy.http.send(legacy.http.build_request("GET", limited.url, headers={**legacy.headers, "accept": "text/event-stream"}),
                                  stream=True)
        assert first.status_code == 200 and second.status_code == 200
        third = http.post(limited.url, json=body, headers=modern_headers("subscriptions/listen"))
        assert third.status_code == 503 and third.headers["retry-after"] == "1"
        assert third.json()["error"]["code"] == -32603 and "BOSUN_MAX_STREAMS" in third.json()["error"]["message"]
        other = LegacyClient(limited.url)
        refused = other.http.get(limited.url, headers={**other.headers, "accept": "text/event-stream"})
        assert refused.status_code == 503
        other.close()
        first.close()
        deadline = time.monotonic() + 5
        while True:  # the server notices the closed stream within moments
            with http.stream("POST", limited.url, json=body, headers=modern_headers("subscriptions/listen")) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second.close()
        legacy.close()


def test_bodies_that_decode_large_are_bounded_in_memory_together() -> None:
    """Eight clients at once, each sending a 4 MiB body of small objects (each decodes to about 95 MB and is
    held for a second): the server takes what fits its request memory budget, answers the rest 503 with
    Retry-After, and its peak memory stays far below the Deployment's 512 MiB limit (without the budget,
    eight at once would take about 800 MB)."""
    running = start_server("tests/servers/everything.py")
    try:
        padding = b"[" + b",".join([b'{"a":1}'] * (4 * 1024 * 1024 // 8 - 64)) + b"]"
        envelope = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                               "params": {"name": "nap", "arguments": {"seconds": 1}, "_meta": {**meta(), "padding": 0}}})
        body = envelope.replace('"padding": 0', '"padding": ' + padding.decode()).encode()  # held for a second each
        assert len(body) < 4 * 1024 * 1024
        with httpx.Client(timeout=10) as http:
            assert modern_call(http, running.url, "tools/list").status_code == 200
        before = _peak_rss_mb(running)
        statuses: list[int] = []
        lock = threading.Lock()

        def send() -> None:
            with httpx.Client(timeout=30) as http:
                for _ in range(3):
                    response = http.post(running.url, content=body, headers=modern_headers("tools/call", "nap"))
                    with lock:
                        statuses.append(response.status_code)
                    if response.status_code == 503:
                        assert response.headers["retry-after"] == "1"

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        peak = _peak_rss_mb(running)
        print(f"8 x 3 bodies of 4 MiB small objects: {sorted(statuses)}; peak RSS {before:.0f} -> {peak:.0f} MB")
        assert set(statuses) <= {200, 503} and statuses.count(200) >= 3 and statuses.count(503) >= 3
        assert peak - before < 230 and peak < 400
        # A body that could never fit (4 MiB of empty objects, about 230 MB decoded) is refused at once.
        empty = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":[' + b",".join([b"{}"] * 1_300_000) + b"]}}"
        with httpx.Client(timeout=10) as http:
            refused = http.post(running.url, content=empty, headers=modern_headers("tools/list"))
            assert refused.status_code == 413 and "BOSUN_REQUEST_MEMORY" in refused.json()["error"]["message"]
            assert modern_call(http, running.url, "tools/list").status_code == 200
    finally:
        stop_server(running)


def test_readiness_shows_a_session_store_full_of_live_sessions_at_once() -> None:
    """At the cap, with every session used within the last minute, a new client would push out a live one:
    /ready says so at once (the check is read at each probe), and is ready again as soon as one is closed."""
    running = start_server("tests/servers/everything.py", env={"BOSUN_MAX_SESSIONS": "3"})
    try:
        with httpx.Client(timeout=5) as http:
            deadline = time.monotonic() + 10
            while http.get(running.base + "/ready").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            clients = [LegacyClient(running.url) for _ in range(3)]
            ready = http.get(running.base + "/ready")
            assert ready.status_code == 503
            sessions = ready.json()["checks"]["sessions"]
            assert sessions["ok"] is False and "full (3 sessions)" in sessions["detail"] and sessions["critical"] is True
            assert clients[0].http.delete(running.url, headers=clients[0].headers).status_code in (200, 202, 204)
            assert http.get(running.base + "/ready").status_code == 200
            for client in clients:
                client.close()
    finally:
        stop_server(running)
