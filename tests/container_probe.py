"""Checks a running Bosun container from the outside (used by scripts/container-test.sh).

Usage: container_probe.py BASE_URL CONTAINER IMAGE_SIZE_BYTES. Prints one JSON summary line and
exits non-zero if anything is wrong.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
from mcp import Client


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


async def use_it(url: str) -> dict[str, object]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    key = os.environ["BOSUN_TEST_API_KEY"]
    http = httpx2.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=30)
    async with http, Client(streamable_http_client(url + "/mcp", http_client=http), mode="auto") as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        added = (await client.call_tool("add_note", {"title": "Container", "body": "runs read-only", "tags": ["ci"]})).structured_content
        found = (await client.call_tool("search_notes", {"query": "read-only"})).structured_content
        return {"protocol": client.protocol_version, "tools": tools, "added": added, "found": found}


def main(base: str, container: str, size: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    else:
        print(podman("logs", container).stderr[-2000:])
        return 1
    health = podman("healthcheck", "run", container)
    anonymous = httpx.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"accept": "application/json, text/event-stream"}, timeout=5)
    session = asyncio.run(use_it(base))
    metrics = httpx.get(os.environ.get("BOSUN_TEST_METRICS_URL", base + "/metrics"), timeout=5).text  # authenticated: own port
    started = time.monotonic()
    podman("stop", "-t", "40", container, timeout=90)
    stopped = time.monotonic() - started
    state = json.loads(podman("inspect", container).stdout)[0]["State"]
    summary = {
        "image_mb": round(size / 1e6, 1),
        "healthcheck_exit": health.returncode,
        "protocol": session["protocol"],
        "tools": session["tools"],
        "search_hits": len(session["found"]["result"]),  # type: ignore[index]
        "metrics_ok": "mcp_requests_total" in metrics and "mcp_tool_calls_total" in metrics,
        "stop_seconds": round(stopped, 2),
        "exit_code": state["ExitCode"],
        "user": podman("image", "inspect", "--format", "{{.Config.User}}", "localhost/bosun:ci").stdout.strip(),
        "anonymous_status": anonymous.status_code,
    }
    print(json.dumps(summary))
    ok = (health.returncode == 0 and summary["search_hits"] >= 1 and summary["metrics_ok"] and summary["exit_code"] == 0
          and stopped < 40 and "search_notes" in session["tools"] and anonymous.status_code == 401)  # type: ignore[operator]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
