"""The gateway end to end: five real backends (server-everything, server-filesystem and server-memory from npm,
mcp-server-time from PyPI, and a remote Bosun server over HTTP) behind one endpoint, driven by the official
Python client in both eras, both official TypeScript clients and the Inspector CLI; then three replicas
behind HAProxy round robin, with backends killed under load.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from balancer import Balancer
from gateway_files import five_local, serve, write
from test_bridge_children import _inspector
from test_official_clients import TS_CLIENTS, _python_scenario

from conftest import Running, free_port, modern_call, start_server, stop_server
from pg import PrivateRedis

PREFIXES = {"everything", "fs", "memory", "time", "hello"}


def _gateway_file(directory: Path, remote: str) -> Path:
    (directory / "notes.txt").write_text("hello from the filesystem server\n")
    return write(directory, {**five_local(directory), "hello": {"url": remote}})


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start_server("examples/hello.py")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, remote: Running) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("gateway")
    running = serve(_gateway_file(directory, remote.url), log=directory / "gateway.log")
    yield running
    stop_server(running)


def _check(result: dict[str, Any], version: str) -> None:
    assert result["protocolVersion"] == version
    assert {name.partition("_")[0] for name in result["tools"]} == PREFIXES, result["tools"]
    assert {"hello_add", "hello_confirm_action", "hello_count", "time_get_current_time"} <= set(result["tools"])
    assert result["add"] == {"text": "5", "structured": {"result": 5}}
    assert "bosun://hello/readme" in result["resources"]
    assert result["readme"].startswith("# hello")
    assert result["greeting"] == "Hello, World!"
    assert "hello_review" in result["prompts"] and "everything_simple-prompt" in result["prompts"]
    assert result["review"].endswith("x = 1")
    assert result["confirm"] == "confirmed deploy"  # the remote's elicitation reached this client and was answered


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_the_official_python_client_in_both_eras(gateway: Running, mode: str, version: str) -> None:
    _check(asyncio.run(_python_scenario(gateway.url, mode, "hello")), version)


@pytest.mark.parametrize(("script", "version"), [("client_v2.mjs", "2026-07-28"), ("client_v1.mjs", "2025-11-25")])
def test_the_official_typescript_clients(gateway: Running, script: str, version: str) -> None:
    node = shutil.which("node")
    assert node is not None
    run = subprocess.run([node, script, gateway.url], cwd=TS_CLIENTS, capture_output=True, text=True, timeout=90,
                         env={**os.environ, "SCENARIO_PREFIX": "hello"})
    assert run.returncode == 0, run.stderr
    _check(json.loads(run.stdout), version)


def test_the_inspector_cli_lists_and_calls_every_kind_of_backend(gateway: Running) -> None:
    tools = {tool["name"] for tool in _inspector(gateway.url, "--method", "tools/list")["tools"]}
    assert {name.partition("_")[0] for name in tools} == PREFIXES
    added = _inspector(gateway.url, "--method", "tools/call", "--tool-name", "hello_add", "--tool-arg", "a=2", "b=3")
    assert added["content"][0]["text"] == "5"
    now = _inspector(gateway.url, "--method", "tools/call", "--tool-name", "time_get_current_time", "--tool-arg",
                     "timezone=UTC")
    assert "UTC" in json.dumps(now)


class Load:
    """Calls to the backends that must keep answering, on threads, counting every failure."""

    def __init__(self, url: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.url = url
        self.failures: list[str] = []
        self.done = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=call, daemon=True) for call in calls]
        for thread in self.threads:
            thread.start()

    def _run(self, name: str, arguments: dict[str, Any]) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                answer = modern_call(http, self.url, "tools/call", {"name": name, "arguments": arguments})
                body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
                if answer.status_code != 200 or "result" not in body or body["result"].get("isError"):
                    self.failures.append(f"{name}: {answer.status_code} {answer.text[:200]}")
                self.done += 1

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def _comes_back(http: httpx.Client, url: str, name: str, arguments: dict[str, Any], seconds: float) -> float:
    """Seconds until `name` answers again; meanwhile only retryable 503s are allowed."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        answer = modern_call(http, url, "tools/call", {"name": name, "arguments": arguments})
        if answer.status_code == 200 and "result" in answer.json() and not answer.json()["result"].get("isError"):
            return time.monotonic() - began
        assert answer.status_code in (200, 503), answer.text
        time.sleep(0.2)
    raise AssertionError(f"{name} did not come back within {seconds}s")


def test_three_replicas_behind_haproxy_each_backend_killed_under_load_fails_alone(tmp_path: Path) -> None:
    hello_port = free_port()
    remote = start_server("examples/hello.py", port=hello_port)
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_STATE_KEYS": "shared"}
    path = _gateway_file(tmp_path, remote.url)
    replicas = [serve(path, env=env, log=tmp_path / f"r{index}.log") for index in range(3)]
    balancer = Balancer(replicas, tmp_path)
    try:
        with httpx.Client(timeout=30) as http:
            for replica in replicas:
                deadline = time.monotonic() + 30
                while http.get(replica.url.replace("/mcp", "/ready")).status_code != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            # The remote backend dies (and comes back on its port): only its own tools fail meanwhile.
            load = Load(balancer.url, [("everything_echo", {"message": "x"}), ("time_get_current_time", {"timezone": "UTC"}),
                                       ("memory_read_graph", {}), ("fs_list_allowed_directories", {})])
            time.sleep(1.0)
            stop_server(remote)
            answer = modern_call(http, balancer.url, "tools/call", {"name": "hello_add", "arguments": {"a": 1, "b": 2}})
            assert answer.status_code == 503 and answer.headers.get("retry-after"), answer.text
            remote = start_server("examples/hello.py", port=hello_port)
            remote_back = _comes_back(http, balancer.url, "hello_add", {"a": 1, "b": 2}, 30)
            # Each replica reconnects on its own back-off: the second load starts once all three have.
            for replica in replicas:
                _comes_back(http, replica.url, "hello_add", {"a": 1, "b": 2}, 30)
            load.finish()
            # A stdio backend's children die on every replica: the same.
            second = Load(balancer.url, [("everything_echo", {"message": "x"}), ("hello_add", {"a": 1, "b": 2}),
                                         ("memory_read_graph", {}), ("fs_list_allowed_directories", {})])
            time.sleep(1.0)
            subprocess.run(["pkill", "-9", "-f", "mcp_server_time"], check=False)
            time_back = _comes_back(http, balancer.url, "time_get_current_time", {"timezone": "UTC"}, 30)
            time.sleep(1.0)
            second.finish()
            tools = {tool["name"] for tool in modern_call(http, balancer.url, "tools/list").json()["result"]["tools"]}
    finally:
        balancer.stop()
        for replica in replicas:
            stop_server(replica)
        stop_server(remote)
        redis.stop()
    for run in (load, second):
        assert not run.failures, run.failures[:5]
        assert run.done > 50, run.done
    assert {"hello_add", "time_get_current_time"} <= tools
    print(f"remote back after {remote_back:.1f}s ({load.done} calls to the others, 0 failed); "
          f"time back after {time_back:.1f}s ({second.done} calls to the others, 0 failed)")
