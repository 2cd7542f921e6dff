"""SIGTERM under load from real clients: readiness drops at once, every request is answered or refused at
connect (never reset or cut off), exit 0."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from conftest import meta, modern_call, modern_headers, start_server


def _refused_at_connect(exc: httpx.TransportError) -> bool:
    """A connection the server never accepted (the port is closed): the one failure a client can always retry."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return True
        cause = cause.__cause__ or cause.__context__
    return isinstance(exc, httpx.ConnectError) and "refused" in str(exc).lower()


def _outcome(call: Callable[[], httpx.Response]) -> str:
    try:
        response = call()
        return "ok" if response.status_code == 200 and "result" in response.json() else f"http {response.status_code}"
    except httpx.TransportError as exc:
        return "refused" if _refused_at_connect(exc) else f"failed: {type(exc).__name__}: {exc}"


def test_sigterm_drains_without_failing_accepted_requests() -> None:
    running = start_server("tests/servers/ops_server.py",
                           env={"BOSUN_DRAIN_SECONDS": "1.5", "BOSUN_GRACEFUL_TIMEOUT": "10", "BOSUN_READINESS_INTERVAL": "0.2"})
    stop = threading.Event()
    outcomes: list[tuple[float, str]] = []  # (time, "ok" | "http <status>" | "refused" | "failed: ...")
    lock = threading.Lock()

    def client(slow: bool) -> None:
        with httpx.Client(timeout=15) as http:
            while not stop.is_set():
                tool = {"name": "wait", "arguments": {"seconds": 0.3}} if slow else {"name": "echo", "arguments": {"text": "x"}}
                outcome = _outcome(lambda tool=tool: modern_call(http, running.url, "tools/call", tool))  # type: ignore[misc]
                with lock:
                    outcomes.append((time.monotonic(), outcome))
                if outcome == "refused":
                    return

    listen_messages: list[dict[str, object]] = []

    def listener() -> None:
        body = {"jsonrpc": "2.0", "id": "sub", "method": "subscriptions/listen", "params": {"_meta": meta(), "notifications": {}}}
        with httpx.Client(timeout=30) as http, http.stream("POST", running.url, json=body,
                                                           headers=modern_headers("subscriptions/listen")) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    listen_messages.append(json.loads(line[5:]))

    with httpx.Client(timeout=5) as probe:
        deadline = time.monotonic() + 10
        while probe.get(running.base + "/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        threads = [threading.Thread(target=client, args=(index % 2 == 0,)) for index in range(4)]
        threads.append(threading.Thread(target=listener))
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert probe.get(running.base + "/ready").status_code == 503  # at once, while still serving
        assert probe.get(running.base + "/health").status_code == 200
        code = running.process.wait(20)
        stopped = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join(20)

    counts = {kind: sum(1 for _, outcome in outcomes if outcome == kind) for kind in {o for _, o in outcomes}}
    print(f"shutdown under load: {counts}, stopped {stopped - signalled:.2f}s after SIGTERM")
    assert code == 0
    assert stopped - signalled < 1.5 + 10
    assert {outcome for _, outcome in outcomes} <= {"ok", "refused"}, counts
    during_drain = [outcome for moment, outcome in outcomes if signalled < moment < signalled + 1.4]
    assert during_drain.count("ok") > 20  # traffic kept flowing through the drain period
    assert listen_messages[0]["method"] == "notifications/subscriptions/acknowledged"
    assert listen_messages[-1]["result"]["_meta"] == {"io.modelcontextprotocol/subscriptionId": "sub"}  # closed properly


def test_sigterm_drains_every_worker_of_a_multi_process_server() -> None:
    running = start_server("tests/servers/ops_server.py", args=["--workers", "2"],
                           env={"BOSUN_DRAIN_SECONDS": "1.0", "BOSUN_READINESS_INTERVAL": "0.2"})
    with httpx.Client(timeout=5) as probe:
        deadline = time.monotonic() + 10
        while probe.get(running.base + "/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.4)
        deadline = time.monotonic() + 1.5  # the supervisor handles signals in its loop, every 0.5 s
        while probe.get(running.base + "/ready").status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for _ in range(10):  # fresh connections land on either worker: both must say not ready, and still serve
            with httpx.Client(timeout=5) as fresh:
                assert fresh.get(running.base + "/ready").status_code == 503
                assert modern_call(fresh, running.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}}).status_code == 200
        assert running.process.wait(20) == 0


@pytest.mark.parametrize("drain_seconds", ["0", "1"])
def test_keep_alive_clients_sending_back_to_back_lose_nothing_through_sigterm(drain_seconds: str) -> None:
    """Eight keep-alive clients sending requests back to back: every request is answered 200 or refused at
    connect; none is reset, cut off or answered with an error, with and without a drain period."""
    running = start_server("tests/servers/ops_server.py", env={"BOSUN_DRAIN_SECONDS": drain_seconds, "BOSUN_GRACEFUL_TIMEOUT": "10"})
    outcomes: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=15) as http:
            go.wait()
            while True:
                outcome = _outcome(lambda: modern_call(http, running.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}}))
                with lock:
                    outcomes.append(outcome)
                if outcome != "ok":
                    return

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    go.set()
    time.sleep(1.5)
    running.process.send_signal(signal.SIGTERM)
    code = running.process.wait(20)
    for thread in threads:
        thread.join(20)
    counts = {kind: outcomes.count(kind) for kind in set(outcomes)}
    print(f"back-to-back through SIGTERM (drain {drain_seconds}s): {counts}")
    assert code == 0
    assert set(outcomes) <= {"ok", "refused"}, counts
    assert outcomes.count("ok") > 500
    with socket.socket() as probe:  # and the port is closed for good
        assert probe.connect_ex(("127.0.0.1", int(running.base.rsplit(":", 1)[1]))) != 0
