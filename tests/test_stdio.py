"""stdio: `bosun serve FILE --transport stdio` and `Server.run()`, driven by the official Python and TypeScript
clients' stdio transports in both protocol eras, and by hand for what clients do not show (stdout purity, bad lines,
cancellation, end of input)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from test_official_clients import TS_CLIENTS, _check, _python_scenario

from conftest import BOSUN, ROOT, meta

MODERN_META = meta()


def _stdio(target: str, *extra: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=BOSUN, args=["serve", target, "--transport", "stdio", *extra], cwd=str(ROOT),
                                 env=env)


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_official_python_client_over_stdio(mode: str, version: str) -> None:
    _check(asyncio.run(_python_scenario(_stdio("examples/hello.py"), mode)), version)  # type: ignore[arg-type]


@pytest.mark.parametrize(("script", "version"), [("stdio_v2.mjs", "2026-07-28"), ("stdio_v1.mjs", "2025-11-25")])
def test_official_typescript_clients_over_stdio(script: str, version: str) -> None:
    node = shutil.which("node")
    assert node is not None, "run the suite through scripts/test.sh, which puts Node 22 on PATH"
    run = subprocess.run([node, script, BOSUN, "serve", "examples/hello.py", "--transport", "stdio"], cwd=TS_CLIENTS,
                         capture_output=True, text=True, timeout=60, env={**os.environ, "SERVER_CWD": str(ROOT)})
    assert run.returncode == 0, run.stderr
    _check(json.loads(run.stdout), version)


async def _context_scenario(mode: str) -> dict[str, Any]:
    progress: list[tuple[float, float | None, str | None]] = []
    logs: list[tuple[str, Any]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append((params.level, params.data))

    async def sample(context: Any, params: Any) -> types.CreateMessageResult:
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="forty-two"), model="m")

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    server = _stdio("tests/servers/everything.py", env={"BOSUN_STATE_KEYS": "test-key-one"})
    async with Client(server, mode=mode, sampling_callback=sample, elicitation_callback=elicit,  # type: ignore[arg-type]
                      logging_callback=on_log, log_level="debug") as client:
        counted = await client.call_tool("count", {"to": 3}, progress_callback=on_progress)
        chatty = await client.call_tool("chatty", {})
        sampled = await client.call_tool("ask_model", {"question": "the answer?"})
        confirmed = await client.call_tool("confirm_action", {"action": "ship"})
        return {"version": client.protocol_version, "counted": counted.content[0].text,  # type: ignore[union-attr]
                "progress": progress, "chatty": chatty.content[0].text, "logs": logs,  # type: ignore[union-attr]
                "sampled": sampled.content[0].text, "confirmed": confirmed.content[0].text}  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_context_over_stdio_progress_logging_sampling_elicitation(mode: str, version: str) -> None:
    result = asyncio.run(_context_scenario(mode))
    assert result["version"] == version
    assert result["counted"] == "counted to 3"
    assert result["progress"] == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
    assert result["chatty"] == "done" and [level for level, _ in result["logs"]] == ["debug", "warning"]
    assert result["sampled"] == "forty-two"  # the client's sampling handler answered
    assert result["confirmed"] == "confirmed ship"  # and its elicitation handler


class Raw:
    """A stdio server driven line by line."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env={**os.environ, **(env or {})})

    def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((message if isinstance(message, bytes) else json.dumps(message).encode()) + b"\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the server closed stdout"
        return dict(json.loads(line))  # every stdout line must be one JSON-RPC message

    def finish(self, timeout: float = 10) -> tuple[bytes, str, float]:
        """Close stdin; return what was left on stdout, all of stderr, and how long the exit took."""
        started = time.monotonic()
        out, err = self.process.communicate(timeout=timeout)  # closes stdin first
        return out, err.decode(), time.monotonic() - started


def _call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": MODERN_META}}


def test_stdout_carries_protocol_only_and_logs_go_to_stderr(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    raw = Raw([BOSUN, "serve", "tests/servers/noisy.py", "--transport", "stdio", "--log-level", "info"],
              {"NOISY_MARKER": str(marker), "BOSUN_LOG_FORMAT": "json"})
    raw.send(_call(1, "shout", {"text": "hi"}))
    assert raw.receive()["result"]["structuredContent"] == {"result": "HI"}
    out, err, took = raw.finish()
    assert out == b""  # nothing but the one response ever reached stdout
    assert "printed while importing" in err and "printed by a tool: hi" in err and "logged by a tool: hi" in err
    assert raw.process.returncode == 0 and took < 3, took  # end of input ends the server promptly
    assert marker.read_text() == "started\nstopped\n"  # start-up and shutdown hooks ran


def test_bad_lines_are_answered_and_the_stream_goes_on() -> None:
    raw = Raw([BOSUN, "serve", "tests/servers/everything.py", "--transport", "stdio"],
              {"BOSUN_MAX_BODY_BYTES": "4096", "BOSUN_STATE_KEYS": "test-key-one"})
    raw.send(b"not json")
    assert raw.receive()["error"]["code"] == -32700
    raw.send(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"text": "' + b"x" * 10_000 + b'"}}')
    too_large = raw.receive()["error"]
    assert too_large["code"] == -32600 and "BOSUN_MAX_BODY_BYTES" in too_large["message"]
    raw.send({"jsonrpc": "2.0", "id": 20, "method": "ping"})  # a ping is answered at any time
    assert raw.receive() == {"jsonrpc": "2.0", "id": 20, "result": {}}
    raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})  # neither initialize nor _meta: told what to send
    told = raw.receive()["error"]
    assert told["code"] == -32600 and "send initialize first" in told["message"] and "2026-07-28" in told["message"]
    raw.send({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": {**MODERN_META,
              "io.modelcontextprotocol/protocolVersion": "1999-01-01"}}})
    assert raw.receive()["error"]["code"] == -32022
    raw.send(_call(4, "add", {"a": 1, "b": 2}))
    assert raw.receive() == {"jsonrpc": "2.0", "id": 4, "result": {"content": [{"type": "text", "text": "3"}],
                             "structuredContent": {"result": 3}, "resultType": "complete",
                             "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "everything", "version": "1.2.3"}}}}
    out, err, _ = raw.finish()
    assert out == b"" and "Traceback" not in err


def test_requests_run_concurrently_and_cancellation_ends_one() -> None:
    raw = Raw([BOSUN, "serve", "tests/servers/everything.py", "--transport", "stdio"], {"BOSUN_STATE_KEYS": "test-key-one"})
    raw.send(_call(1, "nap", {"seconds": 30}))
    raw.send(_call(2, "nap", {"seconds": 0.2}))
    started = time.monotonic()
    assert raw.receive()["id"] == 2  # the long nap does not hold up the short one
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1, "_meta": MODERN_META}})
    raw.send(_call(3, "add", {"a": 2, "b": 2}))
    assert raw.receive()["id"] == 3  # no response is written for the cancelled request
    out, _, took = raw.finish()
    assert out == b"" and took < 3 and time.monotonic() - started < 10


def test_a_2025_session_over_stdio_by_hand() -> None:
    raw = Raw([BOSUN, "serve", "tests/servers/everything.py", "--transport", "stdio"], {"BOSUN_STATE_KEYS": "test-key-one"})
    raw.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    assert raw.receive()["result"]["protocolVersion"] == "2025-06-18"
    raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    raw.send({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "bosun://readme"}})
    assert raw.receive() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "touch", "arguments": {"uri": "bosun://readme"}}})
    first, second = raw.receive(), raw.receive()  # the update notification and the call's result, in either order
    by_kind = {("result" if "result" in message else message["method"]): message for message in (first, second)}
    assert by_kind["notifications/resources/updated"]["params"] == {"uri": "bosun://readme"}
    raw.send({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "nothing://here"}})
    assert raw.receive()["error"] == {"code": -32602, "message": "Resource not found: nothing://here",
                                      "data": {"uri": "nothing://here"}}
    raw.finish()


def test_server_run_picks_stdio_or_http_from_arguments(tmp_path: Path) -> None:
    script = [sys.executable, "examples/hello.py"]
    raw = Raw([*script, "--transport", "stdio"])
    raw.send(_call(1, "add", {"a": 1, "b": 1}))
    assert raw.receive()["result"]["structuredContent"] == {"result": 2}
    assert raw.finish()[0] == b""
    raw = Raw(script, {"BOSUN_TRANSPORT": "stdio"})  # or from the settings
    raw.send(_call(1, "add", {"a": 2, "b": 2}))
    assert raw.receive()["result"]["structuredContent"] == {"result": 4}
    raw.finish()
    from conftest import free_port, modern_call

    port = free_port()
    http = subprocess.Popen([*script, "--port", str(port)], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        import httpx

        deadline = time.monotonic() + 20
        with httpx.Client(timeout=5) as client:
            while True:
                try:
                    response = modern_call(client, f"http://127.0.0.1:{port}/mcp", "tools/call",
                                           {"name": "add", "arguments": {"a": 3, "b": 3}})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and http.poll() is None, "Server.run() did not serve HTTP"
                    time.sleep(0.1)
            assert response.json()["result"]["structuredContent"] == {"result": 6}
            assert client.get(f"http://127.0.0.1:{port}/health").status_code == 200  # the production path, probes included
    finally:
        http.terminate()
        http.wait(10)


def test_subscriptions_listen_over_stdio() -> None:
    raw = Raw([BOSUN, "serve", "tests/servers/everything.py", "--transport", "stdio"], {"BOSUN_STATE_KEYS": "test-key-one"})
    raw.send({"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
              "params": {"notifications": {"toolsListChanged": True, "promptsListChanged": False}, "_meta": MODERN_META}})
    ack = raw.receive()
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"] == {"_meta": {"io.modelcontextprotocol/subscriptionId": "listen-1"},
                             "notifications": {"toolsListChanged": True}}
    raw.send(_call(2, "tools_changed", {}))
    first, second = raw.receive(), raw.receive()
    by_kind = {("result" if "result" in message else message["method"]): message for message in (first, second)}
    assert by_kind["notifications/tools/list_changed"]["params"]["_meta"] == {"io.modelcontextprotocol/subscriptionId": "listen-1"}
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "listen-1", "_meta": MODERN_META}})
    raw.send(_call(3, "add", {"a": 1, "b": 1}))
    assert raw.receive()["id"] == 3  # the cancelled subscription wrote nothing more
    out, _, _ = raw.finish()
    assert out == b""


def test_a_2025_03_26_batch_over_stdio() -> None:
    raw = Raw([BOSUN, "serve", "tests/servers/everything.py", "--transport", "stdio"], {"BOSUN_STATE_KEYS": "test-key-one"})
    raw.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    assert raw.receive()["error"]["code"] == -32600  # no session yet: nothing allows a batch
    raw.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    assert raw.receive()["result"]["protocolVersion"] == "2025-03-26"
    raw.send([{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}},
              {"jsonrpc": "2.0", "method": "notifications/initialized"}, "not a message",
              {"jsonrpc": "2.0", "id": 3, "method": "ping"}])
    answers = [raw.receive() for _ in range(3)]  # each request answered on its own line; the bad item refused
    assert sorted(str(answer.get("id")) for answer in answers) == ["2", "3", "None"]
    by_id = {answer.get("id"): answer for answer in answers}
    assert by_id[2]["result"]["structuredContent"] == {"result": 3} and by_id[3]["result"] == {}
    assert by_id[None]["error"]["code"] == -32600
    assert raw.finish()[0] == b""


def test_end_of_input_ends_an_open_listen_at_once_and_the_server_exits() -> None:
    """A bridge stops its stdio children by closing their stdin: a listen it keeps open must not hold that for the
    whole close grace (5 s) and end in SIGKILL."""
    process = subprocess.Popen([BOSUN, "serve", "examples/hello.py", "--transport", "stdio"], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    listen = {"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
              "params": {"notifications": {"toolsListChanged": True}, "_meta": meta()}}
    process.stdin.write(json.dumps(listen).encode() + b"\n")
    process.stdin.flush()
    acknowledged = json.loads(process.stdout.readline())
    assert acknowledged["method"] == "notifications/subscriptions/acknowledged", acknowledged
    began = time.monotonic()
    process.stdin.close()
    try:
        code = process.wait(10)
    finally:
        process.kill()
    assert code == 0 and time.monotonic() - began < 2, (code, time.monotonic() - began)
