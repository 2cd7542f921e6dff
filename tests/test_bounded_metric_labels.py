"""Issue 20, item 2: what a client names in a request (a method, a tool) costs the server nothing that outlives the request.

Metric labels were always bounded (`other`, `unknown`), but the recorder remembered every raw method name it had
resolved: a unique 1 MiB method name per request kept 1 MiB per request, for good.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import Running, meta, modern_headers, start_server, stop_server


@pytest.fixture()
def running() -> Iterator[Running]:
    server = start_server("tests/servers/ops_server.py")
    try:
        yield server
    finally:
        stop_server(server)


def rss_bytes(pid: int) -> int:
    """The process's resident memory, from /proc (psutil is not needed for one number)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def post_method(http: httpx.Client, url: str, method: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"_meta": meta()}}
    return http.post(url, content=json.dumps(body).encode(), headers=modern_headers("tools/list"))


def series(text: str, family: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(family + "{")]


def test_unique_huge_method_names_leave_no_memory_behind(running: Running) -> None:
    mib = 1 << 20
    with httpx.Client(timeout=30) as http:
        def send(count: int) -> None:
            for _ in range(count):
                name = "m" + uuid.uuid4().hex + "x" * (mib - 40)  # unique, about 1 MiB
                answer = post_method(http, running.url, name)
                assert answer.status_code == 400

        send(20)  # let the allocator reach its working size for 1 MiB bodies first
        before = rss_bytes(running.process.pid)
        send(150)  # 150 MiB of distinct method names
        after = rss_bytes(running.process.pid)
        scraped = http.get(running.base + "/metrics").text
    grown = (after - before) / mib
    print(f"RSS {before / mib:.1f} MiB -> {after / mib:.1f} MiB after 150 unique 1 MiB method names (+{grown:.1f} MiB)")
    assert grown < 30, f"the server kept {grown:.0f} MiB of 150 MiB of method names"
    assert "xxxxxxxx" not in scraped and len(scraped) < 64 * 1024
    assert any('method="other"' in line for line in series(scraped, "mcp_requests_total"))


def test_thousands_of_distinct_method_and_tool_names_stay_a_few_series(running: Running) -> None:
    names = [f"made/up/{index}/{uuid.uuid4().hex[:8]}" for index in range(5000)]

    def send(chunk: list[str]) -> None:
        with httpx.Client(timeout=30) as http:
            for name in chunk:
                if name.endswith("7"):  # a tenth of them as an unknown tool's name instead
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                            "params": {"name": name, "arguments": {}, "_meta": meta()}}
                    http.post(running.url, content=json.dumps(body).encode(), headers=modern_headers("tools/call", name))
                else:
                    assert post_method(http, running.url, name).status_code == 400

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [names[start::4] for start in range(4)]))
    scraped = httpx.get(running.base + "/metrics", timeout=10).text
    assert not any(name in scraped for name in names)
    assert len(series(scraped, "mcp_requests_total")) <= 6, series(scraped, "mcp_requests_total")
    assert len(series(scraped, "mcp_request_duration_seconds_count")) <= 4
    assert series(scraped, "mcp_tool_calls_total") == []  # no tool ran: an unknown name is not a tool
