"""A gateway backend's Agent Skills (SEP-2640) reach the client intact, under the backend's prefix, in both eras.

The backend `kb` is Bosun itself over stdio serving examples/skills (tests/servers/skills_child.py, one skill
per page); `tix` is a backend without skills. Digests, sizes and contents are checked against the files on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_files import misbehaving, serve, stdio, write
from test_skills import Session, content_bytes, error, list_all, result

from conftest import BOSUN, ROOT, Running, modern_call, stop_server

EXTENSION = "io.modelcontextprotocol/skills"
SKILLS = ROOT / "examples" / "skills"
CHILD = ROOT / "tests" / "servers" / "skills_child.py"


def on_disk() -> dict[str, bytes]:
    """Every file of examples/skills by the URI the gateway serves it at."""
    return {f"skill://kb/{path.relative_to(SKILLS).as_posix()}": path.read_bytes()
            for path in sorted(SKILLS.rglob("*")) if path.is_file()}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def servers(child: Path = CHILD, **env: str) -> dict[str, Any]:
    return {"kb": stdio([BOSUN, "serve", str(child), "--transport", "stdio"], env=env),
            "tix": misbehaving()}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("skills-gateway")
    running = serve(write(directory, servers(), pageSize=3), log=directory / "server.log")
    yield running
    stop_server(running)


def check_entries(skills: list[dict[str, Any]]) -> None:
    files = on_disk()
    assert sorted(entry["uri"] for entry in skills) == [
        "skill://kb/bosun-incident-triage/SKILL.md", "skill://kb/mcp-tool-design/SKILL.md"]
    for entry in skills:
        root = entry["uri"].removesuffix("/SKILL.md")
        assert entry["frontmatter"]["name"] == root.rsplit("/", 1)[1]  # the backend's own name, unchanged
        listed = {item["uri"]: item for item in entry["resources"]}
        assert set(listed) == {uri for uri in files if uri.startswith(root + "/")}
        for uri, item in listed.items():
            assert item["digest"] == digest(files[uri]) and item["size"] == len(files[uri]), item


def test_a_2026_client_lists_gets_walks_and_reads_a_backends_skills_under_its_prefix(gateway: Running) -> None:
    with httpx.Client(timeout=30) as http:
        discovered = result(modern_call(http, gateway.url, "server/discover"))
        assert discovered["capabilities"]["extensions"][EXTENSION] == {"directoryRead": True}
        skills, pages = list_all(http, gateway.url, "skills/list", "skills")
        assert pages == 2, pages  # the child's cursor was followed through the gateway's
        check_entries(skills)
        first = result(modern_call(http, gateway.url, "skills/list"))
        assert "ttlMs" in first and "cacheScope" in first

        uri = "skill://kb/mcp-tool-design/SKILL.md"
        got = result(modern_call(http, gateway.url, "skills/get", {"uri": uri}))
        assert got["skill"] == next(entry for entry in skills if entry["uri"] == uri)

        # The child pages a directory one child at a time: its cursor passes through unchanged.
        top, pages = list_all(http, gateway.url, "resources/directory/read", "resources", {"uri": "skill://kb/bosun-incident-triage"})
        children = {item["uri"]: item for item in top}
        assert pages == len(children) == 3, children
        assert children["skill://kb/bosun-incident-triage/references"]["mimeType"] == "inode/directory"
        assert "skill://kb/bosun-incident-triage/SKILL.md" in children
        nested, _ = list_all(http, gateway.url, "resources/directory/read", "resources",
                             {"uri": "skill://kb/bosun-incident-triage/references"})
        assert sorted(item["uri"] for item in nested) == [
            "skill://kb/bosun-incident-triage/references/metrics.md", "skill://kb/bosun-incident-triage/references/probes.md"]

        listed = {item["uri"] for item in list_all(http, gateway.url, "resources/list", "resources")[0]}
        assert "skill://kb/bosun-incident-triage/scripts/probe.sh" not in listed  # readable all the same
        assert "skill://kb/bosun-incident-triage/SKILL.md" in listed
        files = on_disk()
        for entry in skills:
            for item in entry["resources"]:
                read = result(modern_call(http, gateway.url, "resources/read", {"uri": item["uri"]}))
                contents = read["contents"][0]
                assert contents["uri"] == item["uri"] and content_bytes(contents) == files[item["uri"]]

        unknown = error(modern_call(http, gateway.url, "skills/get", {"uri": "skill://kb/no-such-skill/SKILL.md"}))
        assert unknown["code"] == -32602
        echoed = result(modern_call(http, gateway.url, "tools/call", {"name": "tix_echo", "arguments": {"message": "hi"}}))
        assert "hi" in json.dumps(echoed)


def test_a_2025_session_gets_the_same_skills_without_cache_hints(gateway: Running) -> None:
    with httpx.Client(timeout=30) as http:
        session = Session(http, gateway.url)
        assert session.init["capabilities"]["extensions"][EXTENSION] == {"directoryRead": True}
        skills: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = result(session.call("skills/list", {"cursor": cursor} if cursor else {}))
            assert "ttlMs" not in page
            skills += page["skills"]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        check_entries(skills)
        uri = "skill://kb/bosun-incident-triage/SKILL.md"
        assert result(session.call("skills/get", {"uri": uri}))["skill"]["uri"] == uri
        walked = result(session.call("resources/directory/read", {"uri": "skill://kb/mcp-tool-design/examples"}))
        assert [item["uri"] for item in walked["resources"]] == ["skill://kb/mcp-tool-design/examples/good-tool.py"]
        assert "nextCursor" not in walked
        script = "skill://kb/bosun-incident-triage/scripts/probe.sh"
        read = result(session.call("resources/read", {"uri": script}))
        assert content_bytes(read["contents"][0]) == on_disk()[script]


def _child_pid(running: Running) -> int:
    """The gateway's `kb` backend process (a child of the gateway running skills_child.py)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == running.process.pid and any(part.endswith(b"child.py") for part in command):
            return int(entry.name)
    raise AssertionError("no kb backend process")


def test_a_killed_backends_skills_answer_a_retryable_503_and_the_rest_still_answers(tmp_path: Path) -> None:
    child = tmp_path / "child.py"
    shutil.copy(CHILD, child)
    running = serve(write(tmp_path, servers(child, SKILLS_DIR=str(SKILLS))), log=tmp_path / "server.log")
    try:
        with httpx.Client(timeout=30) as http:
            uri = "skill://kb/mcp-tool-design/SKILL.md"
            deadline = time.monotonic() + 20
            while modern_call(http, running.url, "skills/get", {"uri": uri}).status_code != 200:
                assert time.monotonic() < deadline, "the kb backend never answered"
                time.sleep(0.2)
            child.unlink()  # it cannot start again: down, not restarting
            subprocess.run(["kill", "-9", str(_child_pid(running))], check=True)
            time.sleep(0.5)
            for method, params in (("skills/get", {"uri": uri}),
                                   ("resources/directory/read", {"uri": "skill://kb/mcp-tool-design/references"}),
                                   ("resources/read", {"uri": "skill://kb/mcp-tool-design/references/checklist.md"})):
                answer = modern_call(http, running.url, method, params)
                assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1, (method, answer.text)
            listed = result(modern_call(http, running.url, "skills/list"))
            assert listed["skills"] == [] and "nextCursor" not in listed  # left out, the list still answers
            echoed = result(modern_call(http, running.url, "tools/call", {"name": "tix_echo", "arguments": {"message": "x"}}))
            assert "x" in json.dumps(echoed)
            shutil.copy(CHILD, child)  # it comes back by itself, with its skills
            deadline = time.monotonic() + 30
            while not result(modern_call(http, running.url, "skills/list"))["skills"]:
                assert time.monotonic() < deadline, "the kb backend's skills never came back"
                time.sleep(0.3)
    finally:
        stop_server(running)
    assert os.path.exists(child)


def test_a_bosun_child_with_views_shows_them_to_the_gateway_which_passes_them_on(tmp_path: Path) -> None:
    """The bridge declares MCP Apps to its children: a Bosun child applies the text fallback to a client that did not,
    so without that declaration its app-only tool and its tools' `_meta.ui` would never reach the gateway's clients."""
    data = tmp_path / "data"
    data.mkdir()
    child = [BOSUN, "serve", "examples/notes/dashboard.py", "--transport", "stdio"]
    path = write(tmp_path, {"notes": stdio(child, env={"BOSUN_MIGRATE_ON_START": "true", "BOSUN_DATA_DIR": str(data)},
                                           cwd=str(ROOT))})
    running = serve(path)
    views = {"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}
    try:
        with httpx.Client(timeout=30) as http:
            tools = {tool["name"]: tool for tool in modern_call(http, running.url, "tools/list", capabilities=views)
                     .json()["result"]["tools"]}
    finally:
        stop_server(running)
    assert "notes_dashboard_add_note" in tools, sorted(tools)  # app-only: shown to a client that renders views
    assert tools["notes_show_notes"]["_meta"]["ui"]["resourceUri"] == "ui://notes/notes/dashboard", tools["notes_show_notes"]
