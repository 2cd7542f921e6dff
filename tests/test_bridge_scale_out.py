"""Bridges on three replicas sharing Redis, behind HAProxy round robin with no affinity.

* `shared` (and `principal`) bridges: every replica has its own child; a 2026-07-28 client's parked call is
  resumed by its retry whichever replica that lands on (the relay carries it to the holder).
* `session` bridges: a session's child lives on one replica; its requests, wherever they land, reach it
  through Redis, with the child's elicitation and progress carried back. One child per session in all.
* When the replica holding a session's child dies, the session's next call gets a clear error at once, and
  a call in flight on it fails within seconds: never a hang.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from balancer import Balancer
from bridge_children import BOSUN_STDIO, EVERYTHING, child_pids, start_bridge
from mcp import Client
from test_official_clients import TS_CLIENTS, _check

from conftest import Running, free_port, stop_server
from pg import PrivateRedis


class Cluster:
    def __init__(self, url: str, replicas: list[Running], logs: list[Path]) -> None:
        self.url = url
        self.replicas = replicas
        self.logs = logs

    def children(self) -> int:
        return sum(len(child_pids(log)) for log in self.logs)

    def kept_children(self) -> int:
        """Children that served calls, not the short-lived ones each replica asks for its catalog."""
        kept = 0
        for log in self.logs:
            text = log.read_text()
            for pid in child_pids(log):
                exited = re.search(rf"pid {pid} exited[^\n]*", text)
                kept += exited is None or "its call ended" not in exited.group(0)
        return kept


def _cluster(directory: Path, isolation: str, child: list[str] = EVERYTHING) -> Iterator[Cluster]:
    redis = PrivateRedis(free_port(), directory)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_STATE_KEYS": "shared"}
    logs = [directory / f"r{index}.log" for index in range(3)]
    replicas = [start_bridge(child, log=log, env=env, name="everything", isolation=isolation) for log in logs]
    balancer = None
    try:
        balancer = Balancer(replicas, directory)
        yield Cluster(balancer.url, replicas, logs)
    finally:
        if balancer is not None:
            balancer.stop()
        for replica in replicas:
            if replica.process.poll() is None:
                stop_server(replica)
        redis.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _cluster(Path(tmp_path_factory.mktemp("shared")), "shared")


@pytest.fixture(scope="module")
def principals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A `principal` bridge of a 2026-07-28 child (Bosun's hello example over stdio) on three replicas."""
    yield from _cluster(Path(tmp_path_factory.mktemp("principal")), "principal", BOSUN_STDIO)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, "session")


async def _elicit_rounds(url: str, mode: str, rounds: int) -> list[str]:
    async def answer(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Grace Hopper", "check": True})

    texts = []
    async with Client(url, mode=mode, elicitation_callback=answer) as client:  # type: ignore[arg-type]
        for index in range(rounds):
            echo = await client.call_tool("echo", {"message": f"round {index}"})
            texts.append(echo.content[0].text)
            elicited = await client.call_tool("trigger-elicitation-request", {})
            texts.append(" ".join(c.text for c in elicited.content if c.type == "text"))
    return texts


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_shared_bridge_serves_both_eras_on_every_replica_with_parked_calls_resumed_anywhere(shared: Cluster,
                                                                                             mode: str) -> None:
    texts = asyncio.run(_elicit_rounds(shared.url, mode, 6))
    for index in range(6):
        assert texts[2 * index] == f"Echo: round {index}"
        assert "Grace Hopper" in texts[2 * index + 1], texts[2 * index + 1]
    assert shared.kept_children() == 3  # one per replica, each used: calls and retries landed everywhere


def test_a_session_bridge_keeps_one_child_per_session_wherever_its_requests_land(sessions: Cluster) -> None:
    progress: list[float] = []

    async def run() -> list[str]:
        async def answer(context: Any, params: Any) -> types.ElicitResult:
            return types.ElicitResult(action="accept", content={"name": "Ada", "check": True})

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        texts = []
        async with Client(sessions.url, mode="legacy", elicitation_callback=answer) as client:  # type: ignore[arg-type]
            for index in range(6):
                texts.append((await client.call_tool("echo", {"message": f"s{index}"})).content[0].text)
            elicited = await client.call_tool("trigger-elicitation-request", {})
            texts.append(" ".join(c.text for c in elicited.content if c.type == "text"))
            await client.call_tool("trigger-long-running-operation", {"duration": 1, "steps": 3}, progress_callback=on_progress)
        return texts

    try:
        texts = asyncio.run(run())
    except BaseException:
        for log in sessions.logs:
            print(log.name, log.read_text()[-4000:])
        raise
    assert texts[:6] == [f"Echo: s{index}" for index in range(6)]
    assert "Ada" in texts[6]
    assert progress, "the child's progress did not come back across replicas"
    assert sessions.kept_children() == 1  # requests landed on all three replicas; one child served them all


def _holder(cluster: Cluster) -> int:
    return next(index for index, log in enumerate(cluster.logs) if child_pids(log))


@pytest.mark.parametrize(("script", "version"), [("client_v2.mjs", "2026-07-28"), ("client_v1.mjs", "2025-11-25")])
def test_the_typescript_clients_through_three_replicas_of_a_principal_bridge(principals: Cluster, script: str,
                                                                             version: str) -> None:
    """The official TypeScript clients' whole scenario (tools, resources, a template, a prompt, an elicitation)
    through HAProxy round robin: every request may land on another replica, each with its own children."""
    node = shutil.which("node")
    assert node is not None
    run = subprocess.run([node, script, principals.url], cwd=TS_CLIENTS, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr
    _check(json.loads(run.stdout), version)


LEGACY = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _post(http: httpx.Client, url: str, headers: dict[str, str], method: str, params: dict[str, Any]) -> httpx.Response:
    return http.post(url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def test_when_the_replica_holding_a_sessions_child_dies_its_calls_fail_clearly_never_hang(sessions: Cluster) -> None:
    """The call in flight is followed on another replica (sent there directly), so what is measured is how the
    entry learns that the holder died, not HAProxy's answer for a connection that died with it."""
    with httpx.Client(timeout=30) as http:
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        opened = _post(http, sessions.url, LEGACY, "initialize", init)
        headers = {**LEGACY, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        echo = {"name": "echo", "arguments": {"message": "before"}}
        assert "Echo: before" in _post(http, sessions.url, headers, "tools/call", echo).text
        holder = _holder(sessions)
        entry = sessions.replicas[(holder + 1) % 3]
        long = {"name": "trigger-long-running-operation", "arguments": {"duration": 20, "steps": 4}}

        def kill_soon() -> None:
            time.sleep(1.0)
            os.kill(sessions.replicas[holder].process.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_soon)
        killer.start()
        started = time.monotonic()
        in_flight = _post(http, entry.url, headers, "tools/call", long)
        in_flight_seconds = time.monotonic() - 1.0 - started
        killer.join()
        started = time.monotonic()
        after = _post(http, entry.url, headers, "tools/call", echo)
        after_seconds = time.monotonic() - started
    print(f"\nholder killed: the call in flight failed {in_flight_seconds:.2f}s after the kill "
          f"({in_flight.status_code}: {in_flight.text[-160:]!r}); the next call in {after_seconds:.2f}s "
          f"({after.status_code}: {after.text[-160:]!r})")
    assert in_flight.status_code in (200, 503) and "gone" in in_flight.text, in_flight.text
    assert in_flight_seconds < 3.0
    assert after.status_code in (200, 503) and "gone" in after.text and after_seconds < 1.0, after.text
    # The dead replica's child did not outlive it: the kernel killed it (its parent-death signal).
    orphans = [pid for pid in child_pids(sessions.logs[holder]) if Path(f"/proc/{pid}").exists()
               and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()]
    assert not orphans, f"children of the killed replica still running: {orphans}"
