"""SIGTERM under load from real clients: readiness drops at once, accepted requests all succeed, exit 0."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx

from conftest import meta, modern_call, modern_headers, start_server


def test_sigterm_drains_without_failing_accepted_requests() -> None:
    running = start_server("tests/servers/ops_server.py",
                           env={"BOSUN_DRAIN_SECONDS": "1.5", "BOSUN_GRACEFUL_TIMEOUT": "10", "BOSUN_READINESS_INTERVAL": "0.2"})
    stop = threading.Event()
    outcomes: list[tuple[float, str]] = []  # (time, "ok" | "http <status>" | "refused" | "closed: ...")
    lock = threading.Lock()

    def client(slow: bool) -> None:
        with httpx.Client(timeout=15) as http:
            while not stop.is_set():
                try:
                    tool = {"name": "wait", "arguments": {"seconds": 0.3}} if slow else {"name": "echo", "arguments": {"text": "x"}}
                    response = modern_call(http, running.url, "tools/call", tool)
                    outcome = "ok" if response.status_code == 200 and "result" in response.json() else f"http {response.status_code}"
                except httpx.ConnectError:
                    outcome = "refused"
                except httpx.TransportError as exc:  # the server closed an idle keep-alive connection
                    outcome = f"closed: {type(exc).__name__}"
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
    answered = [outcome for _, outcome in outcomes if not outcome.startswith(("refused", "closed"))]
    assert answered and all(outcome == "ok" for outcome in answered), set(answered)
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
        for _ in range(10):  # fresh connections land on either worker: both must say not ready, and still serve
            with httpx.Client(timeout=5) as fresh:
                assert fresh.get(running.base + "/ready").status_code == 503
                assert modern_call(fresh, running.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}}).status_code == 200
        assert running.process.wait(20) == 0
