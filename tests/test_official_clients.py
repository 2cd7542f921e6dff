"""The official MCP clients against a running Bosun server: Python SDK (both modes) and TypeScript (v2 and v1)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import mcp_types as types
import pytest
from mcp import Client

from conftest import ROOT, Running, start_server, stop_server

TS_CLIENTS = ROOT / "tests" / "clients" / "ts"


@pytest.fixture(scope="module")
def hello() -> Iterator[Running]:
    running = start_server("examples/hello.py")
    yield running
    stop_server(running)


async def _python_scenario(url: str, mode: str, prefix: str = "") -> dict[str, Any]:
    """The hello example's scenario; with `prefix`, against it mounted under that prefix (a gateway's backend)."""
    def n(name: str) -> str:
        return f"{prefix}_{name}" if prefix else name

    def u(uri: str) -> str:
        return uri.replace("://", f"://{prefix}/", 1) if prefix else uri

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with Client(url, mode=mode, elicitation_callback=answer) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        add = await client.call_tool(n("add"), {"a": 2, "b": 3})
        resources = await client.list_resources()
        readme = await client.read_resource(u("bosun://readme"))
        greeting = await client.read_resource(u("greeting://World"))
        prompts = await client.list_prompts()
        review = await client.get_prompt(n("review"), {"code": "x = 1"})
        confirm = await client.call_tool(n("confirm_action"), {"action": "deploy"})
        return {
            "protocolVersion": client.protocol_version,
            "tools": [tool.name for tool in tools.tools],
            "add": {"text": add.content[0].text, "structured": add.structured_content},  # type: ignore[union-attr]
            "resources": [str(resource.uri) for resource in resources.resources],
            "readme": readme.contents[0].text,  # type: ignore[union-attr]
            "greeting": greeting.contents[0].text,  # type: ignore[union-attr]
            "prompts": [prompt.name for prompt in prompts.prompts],
            "review": review.messages[0].content.text,  # type: ignore[union-attr]
            "confirm": confirm.content[0].text,  # type: ignore[union-attr]
        }


def _check(result: dict[str, Any], version: str) -> None:
    assert result["protocolVersion"] == version
    assert result["tools"] == ["add", "confirm_action", "count"]
    assert result["add"] == {"text": "5", "structured": {"result": 5}}
    assert result["resources"] == ["bosun://readme"]
    assert result["readme"].startswith("# hello")
    assert result["greeting"] == "Hello, World!"
    assert result["prompts"] == ["review"]
    assert result["review"].endswith("x = 1")
    assert result["confirm"] == "confirmed deploy"  # the elicitation was answered by the client's handler


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_official_python_client(hello: Running, mode: str, version: str) -> None:
    _check(asyncio.run(_python_scenario(hello.url, mode)), version)


@pytest.mark.parametrize(("script", "version"), [("client_v2.mjs", "2026-07-28"), ("client_v1.mjs", "2025-11-25")])
def test_official_typescript_clients(hello: Running, script: str, version: str) -> None:
    node = shutil.which("node")
    assert node is not None, "run the suite through scripts/test.sh, which puts Node 22 on PATH"
    run = subprocess.run([node, script, hello.url], cwd=TS_CLIENTS, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    _check(json.loads(run.stdout), version)
