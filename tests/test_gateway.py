"""The gateway: one `mcpServers` file, many backends, names that never surprise, each backend failing alone."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_files import five_local, misbehaving, serve, stdio, write

from conftest import BOSUN, Running, modern_call, stop_server

LEGACY = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOSUN, "check", str(path)], capture_output=True, text=True, timeout=60)


def _result(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "result" in body, body
    return body["result"]  # type: ignore[no-any-return]


def _tool_names(http: httpx.Client, url: str) -> list[str]:
    """Every page of tools/list."""
    names: list[str] = []
    cursor = None
    while True:
        page = _result(modern_call(http, url, "tools/list", {"cursor": cursor} if cursor else {}))
        names += [tool["name"] for tool in page["tools"]]
        cursor = page.get("nextCursor")
        if not cursor:
            return names


def test_a_wrong_file_is_refused_at_start_with_every_problem_named(tmp_path: Path) -> None:
    started = tmp_path / "started"
    marker = [sys.executable, "-c", f"open({str(started)!r}, 'w')"]
    (tmp_path / "gateway.json").write_text("""{"mcpServers": {
      "dup": {"command": "true"},
      "dup": {"command": "true"},
      "typo": {"command": "true", "denyTool": ["x"]},
      "nothing": {"args": ["x"]},
      "both": {"command": "true", "url": "http://127.0.0.1:1/mcp"},
      "missing": {"command": "no-such-mcp-server-anywhere"},
      "old": {"type": "sse", "url": "http://127.0.0.1:1/sse"},
      "badprefix": {"command": "true", "prefix": "Has_Underscore"},
      "clash-a": {"command": "true", "prefix": "same"},
      "clash-b": {"command": "true", "prefix": "same"},
      "limits": {"command": "true", "rateLimit": "many", "denyTools": ["not a name"]},
      "secret": {"command": "true", "secretFiles": {"TOKEN": "/nonexistent/token"}},
      "marker": {"command": "MARKER", "args": ARGS}
    }, "unknownTopLevel": 1}""".replace("MARKER", marker[0]).replace("ARGS", json.dumps(marker[1:])))
    path = tmp_path / "gateway.json"
    checked = _check(path)
    assert checked.returncode == 2, checked
    expected = [
        "mcpServers: 'dup' appears more than once",
        "unknownTopLevel: Extra inputs are not permitted",
        "mcpServers.typo.denyTool: Extra inputs are not permitted",
        'mcpServers.nothing: give "command"',
        'mcpServers.both: give "command" or "url", not both',
        "mcpServers.missing.command: 'no-such-mcp-server-anywhere' is not found on PATH",
        "mcpServers.old.type: the HTTP+SSE transport of 2024-11-05 is not supported",
        "mcpServers.badprefix.prefix: 'Has_Underscore' is not a valid prefix",
        "mcpServers.clash-b.prefix: 'same' is also mcpServers.clash-a's",
        "mcpServers.limits.rateLimit: rate limit 'many'",
        "mcpServers.limits.denyTools: 'not a name' is not a valid tool name",
        "mcpServers.secret.secretFiles.TOKEN: /nonexistent/token is not a readable file",
    ]
    for problem in expected:
        assert problem in checked.stderr, (problem, checked.stderr)
    served = subprocess.run([BOSUN, "serve", str(path), "--port", "1"], capture_output=True, text=True, timeout=60)
    assert served.returncode == 2 and all(problem in served.stderr for problem in expected), served.stderr
    assert "Traceback" not in checked.stderr + served.stderr
    assert not started.exists(), "nothing was started"

    write(tmp_path, {"marker": stdio(marker), "other": misbehaving()})
    good = _check(path)
    assert good.returncode == 0, good.stderr
    assert "ok   marker: prefix 'marker'" in good.stdout and "ok   other: prefix 'other'" in good.stdout
    assert not started.exists(), "`bosun check` validates the file and starts nothing"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    directory = tmp_path_factory.mktemp("gateway")
    (directory / "notes.txt").write_text("hello from the filesystem server\n")
    servers = {**five_local(directory), "tickets": misbehaving(prefix="tix", hiddenTools=["whoami"], denyTools=["wait"])}
    log = directory / "server.log"
    running = serve(write(directory, servers, pageSize=7), log=log)
    yield running, directory
    stop_server(running)


def test_names_are_prefixed_reversibly_and_pages_walk_every_backend(gateway: tuple[Running, Path]) -> None:
    running, directory = gateway
    with httpx.Client(timeout=30) as http:
        names: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"cursor": cursor} if cursor else {}
            page = _result(modern_call(http, running.url, "tools/list", params))
            assert len(page["tools"]) <= 7
            names += [tool["name"] for tool in page["tools"]]
            pages += 1
            cursor = page.get("nextCursor")
            if not cursor:
                break
        assert pages >= 5 and len(names) == len(set(names)), names
        prefixes = {name.partition("_")[0] for name in names}
        assert prefixes == {"everything", "fs", "memory", "time", "tix"}, prefixes
        assert {"tix_echo", "time_get_current_time", "fs_read_text_file", "memory_read_graph", "everything_echo"} <= set(names)
        assert "tix_whoami" not in names and "tix_wait" not in names  # hidden, denied
        hidden = _result(modern_call(http, running.url, "tools/call", {"name": "tix_whoami", "arguments": {}}))
        assert "pid" in json.dumps(hidden)  # hidden from lists, still callable
        denied = modern_call(http, running.url, "tools/call", {"name": "tix_wait", "arguments": {"seconds": 0}})
        assert "Unknown tool" in denied.text  # denied: neither listed nor callable

        echoed = _result(modern_call(http, running.url, "tools/call", {"name": "everything_echo", "arguments": {"message": "hi"}}))
        assert echoed["content"][0]["text"] == "Echo: hi"
        text = _result(modern_call(http, running.url, "tools/call", {
            "name": "fs_read_text_file", "arguments": {"path": str(directory / "notes.txt")}}))
        assert "hello from the filesystem server" in json.dumps(text)
        resources = _result(modern_call(http, running.url, "resources/list"))["resources"]
        uri = next(item["uri"] for item in resources if item["uri"].startswith("demo://everything/"))
        read = _result(modern_call(http, running.url, "resources/read", {"uri": uri}, name=uri))
        assert read["contents"][0]["uri"] == uri  # the backend's own URI never reaches the client
        templates = _result(modern_call(http, running.url, "resources/templates/list"))["resourceTemplates"]
        template = next(item["uriTemplate"] for item in templates if "{resourceId}" in item["uriTemplate"])
        assert template.startswith("demo://everything/")
        dynamic = template.replace("{resourceId}", "3")
        assert "Resource 3" in json.dumps(_result(modern_call(http, running.url, "resources/read", {"uri": dynamic}, name=dynamic)))
        prompts = [prompt["name"] for prompt in _result(modern_call(http, running.url, "prompts/list"))["prompts"]]
        assert "everything_simple-prompt" in prompts
        got = _result(modern_call(http, running.url, "prompts/get", {"name": "everything_simple-prompt"}))
        assert got["messages"]


def test_adding_a_backend_renames_no_other_backends_tools(tmp_path: Path, gateway: tuple[Running, Path]) -> None:
    running, _ = gateway
    alone = serve(write(tmp_path, {"time": five_local(tmp_path)["time"]}))
    try:
        with httpx.Client(timeout=30) as http:
            by_itself = set(_tool_names(http, alone.url))
            beside_others = set(_tool_names(http, running.url))
    finally:
        stop_server(alone)
    assert by_itself == {"time_get_current_time", "time_convert_time"}
    assert by_itself <= beside_others


def test_the_merged_list_follows_one_backends_list_changed(tmp_path: Path) -> None:
    grower = [BOSUN, "serve", "tests/servers/growing.py", "--transport", "stdio"]
    running = serve(write(tmp_path, {"grow": stdio(grower), "time": five_local(tmp_path)["time"]}))
    notes: list[dict[str, Any]] = []
    opened = threading.Event()
    done = threading.Event()

    def listen(headers: dict[str, str]) -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=None)) as reader, \
                reader.stream("GET", running.url, headers={**headers, "accept": "text/event-stream"}) as stream:
            opened.set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    notes.append(json.loads(line[6:]))
                if done.is_set():
                    return

    try:
        with httpx.Client(timeout=30) as http:
            before = set(_tool_names(http, running.url))
            assert {"grow_grow", "time_get_current_time"} <= before
            init = http.post(running.url, headers=LEGACY, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            headers = {**LEGACY, "mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            http.post(running.url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            threading.Thread(target=listen, args=(headers,), daemon=True).start()
            assert opened.wait(10)
            time.sleep(0.3)
            assert _result(modern_call(http, running.url, "tools/call", {"name": "grow_grow", "arguments": {}}))
            deadline = time.monotonic() + 10
            while not any(note.get("method") == "notifications/tools/list_changed" for note in notes):
                assert time.monotonic() < deadline, notes
                time.sleep(0.05)
            after = set(_tool_names(http, running.url))
            done.set()
    finally:
        stop_server(running)
    assert after - before == {"grow_extra_1"}, after - before


def test_a_remote_backends_resource_updates_reach_only_the_subscribed_client_under_the_prefixed_uri(tmp_path: Path) -> None:
    """A 2025 remote (FastMCP, mcp 1.x) behind the gateway: its `resources/updated` for its own URI reaches the
    client that subscribed to the prefixed one, on that client's stream, and no other client."""
    from remote_bridge import start_fastmcp

    remote = start_fastmcp()
    running = serve(write(tmp_path, {"notes": {"url": remote.url}, "good": misbehaving()}))
    streams: dict[str, list[dict[str, Any]]] = {"alice": [], "bob": []}
    opened = {name: threading.Event() for name in streams}
    done = threading.Event()

    def session(http: httpx.Client) -> dict[str, str]:
        init = http.post(running.url, headers=LEGACY, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        headers = {**LEGACY, "mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        http.post(running.url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        return headers

    def listen(name: str, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=None)) as reader, \
                reader.stream("GET", running.url, headers={**headers, "accept": "text/event-stream"}) as stream:
            opened[name].set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    streams[name].append(json.loads(line[6:]))
                if done.is_set():
                    return

    def updates(name: str) -> list[str]:
        return [note["params"]["uri"] for note in streams[name] if note.get("method") == "notifications/resources/updated"]

    try:
        with httpx.Client(timeout=30) as http:
            alice, bob = session(http), session(http)
            uris = [item["uri"] for item in http.post(running.url, headers=alice, json={
                "jsonrpc": "2.0", "id": 1, "method": "resources/list", "params": {}}).json()["result"]["resources"]]
            assert "notes://notes/readme" in uris, uris
            for name, headers in (("alice", alice), ("bob", bob)):
                threading.Thread(target=listen, args=(name, headers), daemon=True).start()
                assert opened[name].wait(10)
            subscribed = http.post(running.url, headers=alice, json={"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
                                                                       "params": {"uri": "notes://notes/readme"}})
            assert subscribed.status_code == 200 and "result" in subscribed.json(), subscribed.text
            # Answered once the gateway has subscribed upstream: a change made right after is not lost (no pause here).
            touched = http.post(running.url, headers=bob, json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                "name": "notes_touch", "arguments": {"uri": "notes://readme"}}})
            assert touched.status_code == 200, touched.text
            deadline = time.monotonic() + 10
            while not updates("alice"):
                assert time.monotonic() < deadline, streams
                time.sleep(0.05)
            time.sleep(0.5)
            done.set()
    finally:
        stop_server(running)
        stop_server(remote)
    assert updates("alice") == ["notes://notes/readme"], streams["alice"]
    assert updates("bob") == [], streams["bob"]
