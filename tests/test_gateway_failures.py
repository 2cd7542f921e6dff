"""The gateway's backends failing alone: down, crash-looping, slow, killed under load, and back by themselves."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from gateway_files import five_local, misbehaving, serve, stdio, write
from test_gateway import LEGACY, _result, _tool_names

from conftest import Running, modern_call, stop_server


def _wait_ready(http: httpx.Client, running: Running, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        answer = http.get(running.url.replace("/mcp", "/ready"))
        if answer.status_code == 200 or time.monotonic() > deadline:
            return {**answer.json(), "http": answer.status_code}
        time.sleep(0.1)


def test_each_backend_fails_alone_down_crash_looping_or_slow(tmp_path: Path) -> None:
    fast = {"backoffInitial": 0.1, "backoffMax": 0.3, "crashLoop": 3}
    servers = {
        "good": misbehaving(),
        "dead": misbehaving("exit-at-start", limits=fast),
        "slow": misbehaving("slow-handshake", timeouts={"handshakeSeconds": 6}),
        "time": {**five_local(tmp_path)["time"], "required": True},
    }
    running = serve(write(tmp_path, servers), log=tmp_path / "server.log")
    try:
        with httpx.Client(timeout=30) as http:
            ready = _wait_ready(http, running)
            assert ready["http"] == 200, ready
            checks = ready["checks"]
            assert checks["bridge:dead"]["ok"] and "degraded" in checks["bridge:dead"]["detail"], checks
            assert checks["bridge:time"]["detail"].startswith("up"), checks
            # initialize and server/discover never wait for, nor fail with, a backend.
            began = time.monotonic()
            init = http.post(running.url, headers=LEGACY, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            assert init.status_code == 200 and "result" in init.json()
            assert "supportedVersions" in _result(modern_call(http, running.url, "server/discover"))
            assert time.monotonic() - began < 1
            # The list goes on without the dead and the slow one, within the list wait.
            began = time.monotonic()
            names = set(_tool_names(http, running.url))
            assert time.monotonic() - began < 4
            assert {"good_echo", "time_get_current_time"} <= names and not any(name.startswith(("dead_", "slow_")) for name in names)
            # The dead backend's tool: a clear, retryable error; the others answer meanwhile.
            for _ in range(3):
                answer = modern_call(http, running.url, "tools/call", {"name": "dead_echo", "arguments": {}})
                assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1, answer.text
                assert "unavailable" in answer.json()["error"]["message"]
                assert _result(modern_call(http, running.url, "tools/call", {"name": "good_echo", "arguments": {"message": "x"}}))
                time.sleep(0.35)
            ready = _wait_ready(http, running)
            detail = ready["checks"]["bridge:dead"]["detail"]
            assert ready["http"] == 200 and detail.startswith(("degraded", "crash-looping")), ready
            assert int(detail.split(" restarts")[0].rsplit(" ", 1)[1]) >= 3, detail  # every start failed, and was counted
    finally:
        stop_server(running)
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log


def test_a_required_backend_that_crash_loops_turns_ready_503_and_says_which(tmp_path: Path) -> None:
    fast = {"backoffInitial": 0.1, "backoffMax": 0.3, "crashLoop": 3}
    servers = {"good": misbehaving(), "core": misbehaving("exit-at-start", required=True, warm=0, limits=fast)}
    running = serve(write(tmp_path, servers))
    try:
        with httpx.Client(timeout=30) as http:
            assert _wait_ready(http, running)["http"] == 200
            deadline = time.monotonic() + 10
            while True:
                modern_call(http, running.url, "tools/call", {"name": "core_echo", "arguments": {}})
                ready = http.get(running.url.replace("/mcp", "/ready"))
                if ready.status_code == 503:
                    break
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.15)
            assert "bridge:core" in ready.json()["failing"], ready.text
            assert _result(modern_call(http, running.url, "tools/call", {"name": "good_echo", "arguments": {"message": "x"}}))
    finally:
        stop_server(running)


def test_killing_one_backend_under_load_fails_no_call_to_the_others_and_its_tools_return(tmp_path: Path) -> None:
    servers = {**five_local(tmp_path), "victim": misbehaving()}
    running = serve(write(tmp_path, servers), log=tmp_path / "server.log")
    failures: list[str] = []
    calls = {"others": 0}
    stop = threading.Event()

    def load(name: str, arguments: dict[str, Any]) -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                answer = modern_call(http, running.url, "tools/call", {"name": name, "arguments": arguments})
                body = answer.json()
                if answer.status_code != 200 or "result" not in body or body["result"].get("isError"):
                    failures.append(f"{name}: {answer.status_code} {answer.text[:200]}")
                calls["others"] += 1

    try:
        with httpx.Client(timeout=30) as http:
            assert _wait_ready(http, running)["http"] == 200
            pid = json.loads(_result(modern_call(http, running.url, "tools/call", {"name": "victim_whoami", "arguments": {}}))
                             ["content"][0]["text"])["pid"]
            workers = [threading.Thread(target=load, args=args) for args in (
                ("everything_echo", {"message": "x"}), ("time_get_current_time", {"timezone": "UTC"}),
                ("memory_read_graph", {}), ("fs_list_allowed_directories", {}))]
            for worker in workers:
                worker.start()
            time.sleep(1.0)
            subprocess.run(["kill", "-9", str(pid)], check=True)
            back = None
            deadline = time.monotonic() + 15
            while back is None and time.monotonic() < deadline:
                answer = modern_call(http, running.url, "tools/call", {"name": "victim_whoami", "arguments": {}})
                if answer.status_code == 200 and "result" in answer.json():
                    back = json.loads(answer.json()["result"]["content"][0]["text"])["pid"]
                else:
                    assert answer.status_code == 503, answer.text  # retryable while it restarts
                    time.sleep(0.2)
            time.sleep(1.0)
            stop.set()
            for worker in workers:
                worker.join(30)
            assert back is not None and back != pid, "the killed backend's tools came back with a new process"
            assert "victim_echo" in _tool_names(http, running.url)
    finally:
        stop.set()
        stop_server(running)
    assert not failures, failures[:5]
    assert calls["others"] > 50, calls


def test_a_backend_that_was_down_comes_back_by_itself_without_a_client_naming_it(tmp_path: Path) -> None:
    """No client names it: the gateway tries it again in the background, once the backoff allows."""
    flag = tmp_path / "fixed"
    script = tmp_path / "flaky.sh"
    script.write_text(f"#!/bin/sh\n[ -e {flag} ] || exit 3\nexec {sys.executable} {misbehaving()['args'][0]} normal\n")
    script.chmod(0o755)
    fast = {"backoffInitial": 0.2, "backoffMax": 1.0}
    running = serve(write(tmp_path, {"good": misbehaving(), "flaky": stdio([str(script)], limits=fast)}))
    try:
        with httpx.Client(timeout=30) as http:
            ready = _wait_ready(http, running)
            deadline = time.monotonic() + 10
            while "degraded" not in ready["checks"]["bridge:flaky"]["detail"]:
                assert time.monotonic() < deadline, ready
                time.sleep(0.2)
                ready = _wait_ready(http, running)
            metrics = http.get(running.url.replace("/mcp", "/metrics")).text
            assert 'bosun_bridge_up{bridge="flaky"} 0.0' in metrics, metrics[-2000:]
            flag.touch()
            deadline = time.monotonic() + 10
            while 'bosun_bridge_up{bridge="flaky"} 1.0' not in http.get(running.url.replace("/mcp", "/metrics")).text:
                assert time.monotonic() < deadline, _wait_ready(http, running)["checks"]["bridge:flaky"]
                time.sleep(0.2)
            assert "flaky_echo" in _tool_names(http, running.url)
    finally:
        stop_server(running)
