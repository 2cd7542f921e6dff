"""The reference server (examples/notes) on both backends, driven by the official Python client."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from conftest import BOSUN, ROOT, Running, modern_call, start_server, stop_server
from pg import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def notes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    if request.param == "postgresql":
        env = {"DATABASE_URL": fresh_database("bosun_notes_test")}
    else:
        env = {"DATABASE_URL": "", "BOSUN_DATA_DIR": str(tmp_path_factory.mktemp("notes"))}
    subprocess.run([BOSUN, "db", "upgrade", "examples/notes/server.py"], cwd=ROOT, env={**os.environ, **env},
                   check=True, capture_output=True, timeout=60)
    running = start_server("examples/notes/server.py", env={**env, "BOSUN_READINESS_INTERVAL": "0.2"})
    yield running
    stop_server(running)


async def _scenario(url: str) -> dict[str, Any]:
    async with Client(url, mode="auto") as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        body = "Rolling updates keep capacity; set maxUnavailable to zero."
        first = (await client.call_tool("add_note", {"title": "Rollouts", "body": body, "tags": ["ops", "k8s"]})).structured_content
        await client.call_tool("add_note", {"title": "Pools", "body": "Size connection pools below max_connections.", "tags": ["db"]})
        hits = (await client.call_tool("search_notes", {"query": "rolling updates"})).structured_content
        tagged = (await client.call_tool("search_notes", {"query": "pools", "tag": "db"})).structured_content
        wrong_tag = (await client.call_tool("search_notes", {"query": "pools", "tag": "ops"})).structured_content
        odd = await client.call_tool("search_notes", {"query": 'quote " and (paren) OR -minus'})
        updated = (await client.call_tool("update_note", {"id": first["id"], "title": "Rollouts, safely"})).structured_content
        resource = (await client.read_resource(f"note://{first['id']}")).contents[0].text
        prompt = (await client.get_prompt("summarize", {"tag": "ops"})).messages[0].content.text
        deleted = (await client.call_tool("delete_note", {"id": first["id"]})).content[0].text
        try:
            await client.read_resource(f"note://{first['id']}")
            gone: Any = "read a deleted note"
        except Exception as exc:  # the SDK raises its error type, carrying the JSON-RPC error
            gone = exc
        missing = await client.call_tool("delete_note", {"id": first["id"]})
        after = (await client.call_tool("search_notes", {"query": "rolling updates"})).structured_content
        return {"tools": tools, "first": first, "hits": hits, "tagged": tagged, "wrong_tag": wrong_tag, "odd": odd,
                "updated": updated, "resource": resource, "prompt": prompt, "deleted": deleted, "gone": gone, "missing": missing,
                "after": after}


def test_knowledge_base_end_to_end(notes: Running) -> None:
    result = asyncio.run(_scenario(notes.url))
    assert result["tools"] == ["add_note", "update_note", "delete_note", "search_notes"]
    assert result["first"]["tags"] == ["k8s", "ops"]
    assert [hit["title"] for hit in result["hits"]["result"]] == ["Rollouts"]
    assert [hit["title"] for hit in result["tagged"]["result"]] == ["Pools"]
    assert result["wrong_tag"]["result"] == []
    assert result["odd"].is_error is False  # user input cannot break the search syntax
    assert result["updated"]["title"] == "Rollouts, safely"
    assert '"title":"Rollouts, safely"' in result["resource"]
    assert "Rollouts, safely" in result["prompt"]
    assert result["deleted"].startswith("deleted note")
    gone = result["gone"]  # a missing resource is the spec's error: -32602 with the URI
    assert getattr(gone, "code", None) == -32602 and gone.data == {"uri": f"note://{result['first']['id']}"}, repr(gone)
    assert result["missing"].is_error is True and "No note" in result["missing"].content[0].text
    assert result["after"]["result"] == []  # the delete invalidated the cached search


def test_search_results_are_cached_and_invalidated_by_writes(notes: Running) -> None:
    with httpx.Client(timeout=10) as http:
        def hits() -> float:
            text = http.get(notes.base + "/metrics").text
            line = next(line for line in text.splitlines() if line.startswith('bosun_cache_requests_total{result="hit"}'))
            return float(line.split()[-1])

        search = {"name": "search_notes", "arguments": {"query": "caching", "limit": 5}}
        first = modern_call(http, notes.url, "tools/call", search).json()["result"]["structuredContent"]["result"]
        before = hits()
        again = modern_call(http, notes.url, "tools/call", search).json()["result"]["structuredContent"]["result"]
        assert again == first and hits() == before + 1
        modern_call(http, notes.url, "tools/call", {"name": "add_note", "arguments": {"title": "Caching", "body": "caching rules"}})
        after = modern_call(http, notes.url, "tools/call", search).json()["result"]["structuredContent"]["result"]
        assert [hit["title"] for hit in after] == [*[hit["title"] for hit in first], "Caching"]
        assert hits() == before + 1  # that was a miss: the write invalidated it


def test_embedded_default_needs_no_database_server(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "", "BOSUN_DATA_DIR": str(tmp_path)}
    subprocess.run([BOSUN, "db", "upgrade", "examples/notes/server.py"], cwd=ROOT, env=env, check=True, capture_output=True)
    import sqlite3

    with sqlite3.connect(tmp_path / "bosun.db") as connection:
        assert connection.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert connection.execute("select version_num from alembic_version").fetchone()[0] == "0001"
