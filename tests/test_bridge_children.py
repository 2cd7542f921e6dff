"""The bridge with real children of both eras, and the clients people actually use, in front of it.

Children: PyPI's `mcp-server-time` and `mcp-server-git` in the releases built on `mcp` 1.x (a 2025-only
SDK; they live in .venv-children, pinned in requirements/bridge-children.lock), npm's `server-filesystem`,
and Bosun itself over stdio (a 2026-07-28 child). Each child's era is read from the bridge's log (what its
probe found), never assumed. Clients: the official Python client in both eras, the official TypeScript
clients (v2 on 2026-07-28, v1 on a 2025 session) and the MCP Inspector's CLI.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from bridge_children import BOSUN_STDIO, CHILDREN_PYTHON, FILESYSTEM, TIME, child_pids, start_bridge
from mcp import Client
from test_official_clients import TS_CLIENTS, _check

from conftest import ROOT, Running, modern_call, sse_messages, stop_server

INSPECTOR = ROOT / "tests" / "inspector" / "node_modules" / "@modelcontextprotocol" / "inspector-cli" / "build" / "index.js"
ERAS = [("auto", "2026-07-28"), ("legacy", "2025-11-25")]
SESSION_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _children_venv() -> Path:
    assert CHILDREN_PYTHON.exists(), "run scripts/bridge_children.sh (scripts/setup.sh dev calls it)"
    return CHILDREN_PYTHON


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "run the suite through scripts/test.sh, which puts Node 22 on PATH"
    return node


@pytest.fixture(scope="module")
def time_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    _children_venv()
    log = tmp_path_factory.mktemp("time") / "server.log"
    running = start_bridge(TIME, log=log, name="time")
    yield running, log
    stop_server(running)


@pytest.fixture(scope="module")
def hello_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    log = tmp_path_factory.mktemp("hello") / "server.log"
    running = start_bridge(BOSUN_STDIO, log=log, name="hello")
    yield running, log
    stop_server(running)


def _bridge_lines(log: Path) -> list[str]:
    return [json.loads(line)["msg"] for line in log.read_text().splitlines()
            if line.startswith("{") and '"bosun.bridge"' in line]


# A 2025-only child: mcp-server-time on mcp 1.x.
def test_the_time_server_is_built_on_the_2025_only_sdk() -> None:
    """What makes the next tests mean anything: the child really is an mcp 1.x server, not a 2.x one."""
    version = subprocess.run([str(_children_venv()), "-c", "import importlib.metadata as m; print(m.version('mcp'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("1."), version


async def _time_scenario(url: str, mode: str) -> dict[str, Any]:
    async with Client(url, mode=mode) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        now = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        converted = await client.call_tool("convert_time", {"source_timezone": "UTC", "time": "12:00",
                                                            "target_timezone": "Asia/Tokyo"})
        wrong = await client.call_tool("get_current_time", {"timezone": "Not/AZone"})
        return {"version": client.protocol_version, "tools": {tool.name for tool in tools.tools},
                "now": json.loads(now.content[0].text),  # type: ignore[union-attr]
                "converted": json.loads(converted.content[0].text),  # type: ignore[union-attr]
                "wrong": (wrong.is_error, wrong.content[0].text)}  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_mcp_server_time_on_mcp_1x_serves_both_eras_after_the_probe_falls_back(
        time_bridge: tuple[Running, Path], mode: str, version: str) -> None:
    running, log = time_bridge
    result = asyncio.run(_time_scenario(running.url, mode))
    assert result["version"] == version
    assert result["tools"] == {"get_current_time", "convert_time"}
    assert result["now"]["timezone"] == "Europe/Paris" and result["now"]["datetime"].endswith(("+01:00", "+02:00"))
    assert result["converted"]["target"]["datetime"].endswith("T21:00:00+09:00")
    assert result["wrong"][0] is True and "Not/AZone" in result["wrong"][1]  # the child's own error, as an error
    lines = _bridge_lines(log)
    # mcp 1.x answers `server/discover` with -32602 (it does not exit): the same process then takes `initialize`.
    assert any("speaks 2025-11-25 (mcp-time)" in line for line in lines), lines
    assert not any("ended on server/discover" in line for line in lines), lines
    assert len(child_pids(log)) == 1  # one child, one handshake, for both eras' clients


# mcp-server-git (mcp 1.x) on a repository made for the test.
def _repository(root: Path) -> Path:
    repo = root / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=Bridge Test", "-c", "user.email=bridge@example.invalid"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "tracked.txt").write_text("one\n")
    subprocess.run([*git, "add", "tracked.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "the first commit of the bridge test"], check=True)
    (repo / "untracked-by-the-bridge-test.txt").write_text("two\n")
    return repo


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_mcp_server_git_reads_the_status_and_log_of_a_temporary_repository(tmp_path: Path, mode: str, version: str) -> None:
    repo = _repository(tmp_path)
    log = tmp_path / "server.log"
    running = start_bridge([str(_children_venv()), "-m", "mcp_server_git", "--repository", str(repo)], log=log, name="git")

    async def scenario() -> tuple[str, str, str]:
        async with Client(running.url, mode=mode) as client:  # type: ignore[arg-type]
            status = await client.call_tool("git_status", {"repo_path": str(repo)})
            history = await client.call_tool("git_log", {"repo_path": str(repo)})
            return client.protocol_version, status.content[0].text, history.content[0].text  # type: ignore[union-attr]

    try:
        negotiated, status, history = asyncio.run(scenario())
    finally:
        stop_server(running)
    assert negotiated == version
    assert "untracked-by-the-bridge-test.txt" in status
    assert "the first commit of the bridge test" in history
    assert any("speaks 2025-11-25 (mcp-git)" in line for line in _bridge_lines(log))


# npm's server-filesystem on a temporary directory.
def test_server_filesystem_reads_a_file_in_its_directory_and_refuses_one_outside(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "note.txt").write_text("read through the bridge\n")
    (tmp_path / "secret.txt").write_text("not for the child\n")
    log = tmp_path / "server.log"
    running = start_bridge([*FILESYSTEM, str(allowed)], log=log, name="filesystem")

    async def scenario() -> tuple[Any, Any]:
        async with Client(running.url) as client:
            inside = await client.call_tool("read_text_file", {"path": str(allowed / "note.txt")})
            outside = await client.call_tool("read_text_file", {"path": str(tmp_path / "secret.txt")})
            return inside, outside

    try:
        inside, outside = asyncio.run(scenario())
    finally:
        stop_server(running)
    assert not inside.is_error and inside.content[0].text == "read through the bridge\n"
    assert outside.is_error and "not for the child" not in outside.content[0].text
    assert any("speaks 2025-11-25 (secure-filesystem-server)" in line for line in _bridge_lines(log))


# A 2026-07-28 child: Bosun itself over stdio, with its multi round-trip input.
async def _confirm_scenario(url: str, mode: str) -> dict[str, Any]:
    asked: list[str] = []

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": "deploy" in params.message})

    async with Client(url, mode=mode, elicitation_callback=answer) as client:  # type: ignore[arg-type]
        deploy = await client.call_tool("confirm_action", {"action": "deploy"})
        delete = await client.call_tool("confirm_action", {"action": "delete"})
        return {"version": client.protocol_version, "asked": asked,
                "deploy": deploy.content[0].text, "delete": delete.content[0].text}  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_a_2026_childs_input_request_reaches_clients_of_both_eras(hello_bridge: tuple[Running, Path], mode: str,
                                                                  version: str) -> None:
    """The child answers with an InputRequiredResult. A 2026-07-28 client gets it (its retry carries the
    child's requestState back); a 2025 session client, which has no such result, is asked on its stream."""
    running, log = hello_bridge
    result = asyncio.run(_confirm_scenario(running.url, mode))
    assert result["version"] == version
    assert result["asked"] == ["Really deploy?", "Really delete?"]  # each question reached the client's handler
    assert result["deploy"] == "confirmed deploy"  # and each answer reached the child, for its own call
    assert result["delete"] == "cancelled delete"
    assert any("speaks 2026-07-28 (hello)" in line for line in _bridge_lines(log))
    assert len(child_pids(log)) == 1


def test_a_2025_client_gets_no_2026_field_from_a_2026_child(hello_bridge: tuple[Running, Path]) -> None:
    """The child's `resultType: "complete"` is for its own hop: a 2025 session's results carry none,
    while a 2026-07-28 client still gets it (its transport adds it)."""
    running, _ = hello_bridge
    with httpx.Client(timeout=30) as http:
        opened = http.post(running.url, headers=SESSION_HEADERS, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
        session = {**SESSION_HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        http.post(running.url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        results = []
        for number, (method, params) in enumerate([("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}),
                                                   ("prompts/get", {"name": "review", "arguments": {"code": "x"}})]):
            answer = http.post(running.url, headers=session,
                               json={"jsonrpc": "2.0", "id": 10 + number, "method": method, "params": params})
            body = answer.json() if answer.text.lstrip().startswith("{") else sse_messages(answer.text)[-1]
            results.append(body["result"])
        modern = modern_call(http, running.url, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}).json()
        http.delete(running.url, headers=session)
    assert results[0]["structuredContent"] == {"result": 5} and "resultType" not in results[0], results[0]
    assert results[1]["messages"] and "resultType" not in results[1], results[1]
    assert modern["result"]["resultType"] == "complete" and modern["result"]["structuredContent"] == {"result": 5}


# The official TypeScript clients and the Inspector CLI, through the bridge.
@pytest.mark.parametrize(("script", "version"), [("client_v2.mjs", "2026-07-28"), ("client_v1.mjs", "2025-11-25")])
def test_the_official_typescript_clients_run_their_whole_scenario_through_the_bridge(
        hello_bridge: tuple[Running, Path], script: str, version: str) -> None:
    """The same scenario and checks as tests/test_official_clients.py against Bosun directly: tools with
    structured output, a resource, a resource template, a prompt and an elicitation, now all forwarded."""
    running, _ = hello_bridge
    run = subprocess.run([_node(), script, running.url], cwd=TS_CLIENTS, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    _check(json.loads(run.stdout), version)


def _inspector(url: str, *args: str) -> Any:
    assert INSPECTOR.exists(), "install tests/inspector (npm ci there; scripts/setup.sh dev does it)"
    # inspector-cli 1.0.3 finds its own package.json relative to the working directory: run it from its build/.
    run = subprocess.run([_node(), str(INSPECTOR), url, "--transport", "http", *args], cwd=INSPECTOR.parent,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_inspector_cli_lists_and_calls_a_bridged_2026_child(hello_bridge: tuple[Running, Path]) -> None:
    running, _ = hello_bridge
    tools = _inspector(running.url, "--method", "tools/list")
    assert [tool["name"] for tool in tools["tools"]] == ["add", "confirm_action", "count"]
    added = _inspector(running.url, "--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=2", "b=3")
    assert added["structuredContent"] == {"result": 5} and added["content"][0]["text"] == "5"
    readme = _inspector(running.url, "--method", "resources/read", "--uri", "bosun://readme")
    assert readme["contents"][0]["text"].startswith("# hello")
    prompt = _inspector(running.url, "--method", "prompts/get", "--prompt-name", "review", "--prompt-args", "code=x = 1")
    assert prompt["messages"][0]["content"]["text"].endswith("x = 1")


def test_the_inspector_cli_lists_and_calls_a_bridged_2025_child(time_bridge: tuple[Running, Path]) -> None:
    running, _ = time_bridge
    tools = _inspector(running.url, "--method", "tools/list")
    assert {tool["name"] for tool in tools["tools"]} == {"get_current_time", "convert_time"}
    called = _inspector(running.url, "--method", "tools/call", "--tool-name", "get_current_time", "--tool-arg",
                        "timezone=Asia/Kolkata")
    assert not called.get("isError") and json.loads(called["content"][0]["text"])["timezone"] == "Asia/Kolkata"
