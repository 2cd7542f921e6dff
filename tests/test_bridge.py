"""The bridge with a real third-party server: npm's server-everything (a 2025-only child, probed, not assumed),
behind Bosun, driven by the official Python client in both eras.

What crosses the bridge: tools, resources and prompts; the child's elicitation mid-call, to a 2025 session
client on its stream and to a 2026-07-28 client as an `InputRequiredResult` whose retry resumes the parked
call; progress under the client's own token; ids Bosun mints, so fifty clients that all use id 1 and "1"
each get their own answer, with their id's JSON type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from bridge_children import EVERYTHING, child_pids, start_bridge
from mcp import Client

from conftest import Running, stop_server

MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
               "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}}


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json",
               "mcp-protocol-version": "2026-07-28", "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    return headers


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    log = tmp_path_factory.mktemp("bridge") / "server.log"
    running = start_bridge(EVERYTHING, log=log, name="everything")
    yield running, log
    stop_server(running)


async def _scenario(url: str, mode: str) -> dict[str, Any]:
    asked: list[str] = []
    progress: list[float] = []

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with Client(url, mode=mode, elicitation_callback=answer) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        echo = await client.call_tool("echo", {"message": "across the bridge"})
        elicited = await client.call_tool("trigger-elicitation-request", {})
        long = await client.call_tool("trigger-long-running-operation", {"duration": 1, "steps": 3},
                                      progress_callback=on_progress)
        prompts = await client.list_prompts()
        resources = await client.list_resources()
        first = resources.resources[0]
        read = await client.read_resource(str(first.uri))
        return {"version": client.protocol_version, "tools": {tool.name for tool in tools.tools},
                "echo": echo.content[0].text, "elicited": " ".join(c.text for c in elicited.content if c.type == "text"),
                "asked": asked, "progress": progress, "long": long.content[0].text,
                "prompts": {prompt.name for prompt in prompts.prompts}, "read": read.contents[0].uri == first.uri}


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_the_official_client_in_both_eras_reaches_a_2025_only_child(everything: tuple[Running, Path], mode: str,
                                                                     version: str) -> None:
    running, log = everything
    result = asyncio.run(_scenario(running.url, mode))
    assert result["version"] == version
    assert {"echo", "trigger-elicitation-request", "trigger-long-running-operation"} <= result["tools"]
    assert result["echo"] == "Echo: across the bridge"
    # The child's elicitation reached this client (on the session's stream, or as an InputRequiredResult
    # whose retry resumed the parked call) and the child got the answer.
    assert len(result["asked"]) == 1 and "Ada Lovelace" in result["elicited"]
    assert result["progress"] and result["progress"] == sorted(result["progress"]), result["progress"]
    assert "completed" in result["long"].lower()
    assert result["prompts"] and result["read"]
    text = log.read_text()
    assert "speaks 2025-11-25" in text  # probed: server/discover refused, initialize worked
    assert len(child_pids(log)) == 1  # one child, one handshake, for every call of both eras


def test_fifty_clients_using_the_same_ids_each_get_their_own_answer(everything: tuple[Running, Path]) -> None:
    running, _ = everything

    async def one(http: httpx.AsyncClient, index: int) -> tuple[Any, str]:
        request_id: Any = 1 if index % 2 else "1"
        body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": f"client {index}"}, "_meta": MODERN_META}}
        answer = (await http.post(running.url, json=body, headers=modern_headers("tools/call", "echo"))).json()
        return answer["id"], answer["result"]["content"][0]["text"]

    async def run() -> list[tuple[Any, str]]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            return await asyncio.gather(*(one(http, index) for index in range(50)))

    answers = asyncio.run(run())
    for index, (request_id, text) in enumerate(answers):
        assert request_id == (1 if index % 2 else "1")  # the same JSON type the client sent
        assert text == f"Echo: client {index}"


def test_a_parked_call_whose_client_never_returns_expires_and_its_late_retry_is_told(tmp_path: Path) -> None:
    running = start_bridge(EVERYTHING, name="parked", park_seconds=1)
    try:
        with httpx.Client(timeout=30) as http:
            body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                    "params": {"name": "trigger-elicitation-request", "arguments": {}, "_meta": MODERN_META}}
            first = http.post(running.url, json=body, headers=modern_headers("tools/call", "trigger-elicitation-request")).json()
            result = first["result"]
            assert result["resultType"] == "input_required"
            (key, request), = result["inputRequests"].items()
            assert request["method"] == "elicitation/create"
            asyncio.run(asyncio.sleep(2.5))
            body["params"] = {**body["params"], "requestState": result["requestState"],
                              "inputResponses": {key: {"action": "accept", "content": {"name": "late"}}}}
            late = http.post(running.url, json=body, headers=modern_headers("tools/call", "trigger-elicitation-request")).json()
            assert "no longer waiting" in late["error"]["message"]
            # The child was answered with an error and is still fine.
            echo = {"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"message": "still here"}, "_meta": MODERN_META}}
            again = http.post(running.url, json=echo, headers=modern_headers("tools/call", "echo")).json()
            assert again["result"]["content"][0]["text"] == "Echo: still here"
    finally:
        stop_server(running)


def test_a_client_that_cannot_answer_gets_the_child_an_error_at_once(everything: tuple[Running, Path]) -> None:
    running, _ = everything
    meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "trigger-elicitation-request", "arguments": {}, "_meta": meta}}
    with httpx.Client(timeout=30) as http:
        answer = http.post(running.url, json=body, headers=modern_headers("tools/call", "trigger-elicitation-request"))
    assert answer.elapsed.total_seconds() < 1.5
    payload = answer.json()
    text = str(payload.get("result") or payload.get("error"))
    assert "elicitation" in text.lower(), payload


def test_metrics_per_bridge_count_children_handshakes_and_calls_by_outcome(everything: tuple[Running, Path]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    running, _ = everything
    with httpx.Client(timeout=30) as http:
        before = http.get(running.base + "/metrics").text
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": "counted"}, "_meta": MODERN_META}}
        assert http.post(running.url, json=body, headers=modern_headers("tools/call", "echo")).status_code == 200
        after = http.get(running.base + "/metrics").text

    def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples
                if sample.name.startswith("bosun_bridge_")}

    old, new = samples(before), samples(after)
    key = (("bridge", "everything"),)
    assert new[("bosun_bridge_children", key)] == 1
    assert new[("bosun_bridge_crash_looping", key)] == 0
    assert new[("bosun_bridge_handshake_seconds_count", key)] == 1
    assert new[("bosun_bridge_calls_in_flight", key)] == 0
    ok = ("bosun_bridge_calls_total", (("bridge", "everything"), ("outcome", "ok")))
    assert new[ok] == old[ok] + 1
