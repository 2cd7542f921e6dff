"""/metrics in the Prometheus text format, bounded labels, multiple workers, the ops port; logs and request ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BOSUN, ROOT, free_port, meta, modern_call, modern_headers, start_server, stop_server


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(value for (metric, items), value in found.items()
               if metric == name and all((key, val) in items for key, val in labels.items()))


def test_metrics_cover_requests_tools_errors_and_stay_bounded() -> None:
    running = start_server("tests/servers/ops_server.py")
    try:
        with httpx.Client(timeout=5) as http:
            for _ in range(5):
                modern_call(http, running.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
            for index in range(5):
                modern_call(http, running.url, "tools/call", {"name": f"made-up-{index}", "arguments": {}})
            modern_call(http, running.url, "no/such/method")
            http.post(running.url, content=b"{", headers=modern_headers("tools/list"))
            http.post(running.url, json={}, headers={**modern_headers("tools/list"), "origin": "https://evil.example"})
            response = http.get(running.base + "/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
        assert total(found, "mcp_requests_total", method="tools/call", status="200") == 10
        assert total(found, "mcp_requests_total", method="other", status="404") == 1
        assert total(found, "mcp_tool_calls_total", tool="echo", outcome="ok") == 5
        assert total(found, "mcp_tool_duration_seconds_count", tool="echo") == 5
        assert total(found, "mcp_errors_total", code="-32602") == 5
        assert total(found, "mcp_errors_total", code="-32700") == 1
        assert total(found, "mcp_requests_total", method="invalid", status="403") == 1  # refusals are counted too
        assert total(found, "mcp_request_duration_seconds_count", method="tools/call") == 10
        assert "made-up" not in response.text  # unknown tools are not new series
        assert ("mcp_inflight_requests", ()) in found and ("mcp_open_streams", ()) in found
        assert total(found, "mcp_readiness_check", check="database") == 1
        assert total(found, "bosun_build_info", server="ops", server_version="9.9.9") == 1
        assert total(found, "process_resident_memory_bytes") > 0
    finally:
        stop_server(running)


def test_a_module_that_builds_its_own_app_serves_with_metrics() -> None:
    running = start_server("tests/servers/prebuilt_app.py")
    try:
        with httpx.Client(timeout=5) as http:
            reply = modern_call(http, running.url, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
            assert reply.json()["result"]["structuredContent"] == {"result": 5}
            response = http.get(running.base + "/metrics")
        assert response.status_code == 200
        found = samples(response.text)
        assert total(found, "mcp_tool_calls_total", tool="add", outcome="ok") == 1
        assert total(found, "bosun_build_info", server="prebuilt") == 1
        assert ("bosun_cache_requests_total", (("result", "hit"),)) in found
    finally:
        stop_server(running)


def test_prometheus_client_waits_for_the_first_scrape() -> None:
    """Importing prometheus_client is a tenth of a plain server's start-up; requests do not need it, a scrape does."""
    script = textwrap.dedent("""
        import asyncio, sys
        from bosun import Server

        server = Server("lazy")

        @server.tool()
        def echo(text: str) -> str:
            return text

        app = server.asgi_app()

        async def scrape():
            sent = []
            async def receive():
                return {"type": "http.request", "body": b""}
            async def send(message):
                sent.append(message)
            scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": [], "server": ("127.0.0.1", 80)}
            await app(scope, receive, send)
            return sent

        before = "prometheus_client" in sys.modules
        sent = asyncio.run(scrape())
        print(before, sent[0]["status"], b"bosun_build_info" in sent[1]["body"])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": ""})
    assert done.stdout.split() == ["False", "200", "True"], done.stderr


def test_sessions_and_streams_are_gauged() -> None:
    running = start_server("tests/servers/ops_server.py")
    try:
        with httpx.Client(timeout=5) as http:
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
            session = http.post(running.url, json=init, headers=headers).headers["mcp-session-id"]
            body = {"jsonrpc": "2.0", "id": "s", "method": "subscriptions/listen", "params": {"_meta": meta(), "notifications": {}}}
            with http.stream("POST", running.url, json=body, headers=modern_headers("subscriptions/listen")) as stream:
                lines = stream.iter_lines()  # keep the iterator: dropping it closes the stream
                next(lines)
                found = samples(httpx.get(running.base + "/metrics").text)
                assert total(found, "mcp_sessions_active") == 1
                assert total(found, "mcp_open_streams") == 1
            http.delete(running.url, headers={"mcp-session-id": session})
            time.sleep(0.2)
            found = samples(httpx.get(running.base + "/metrics").text)
            assert total(found, "mcp_sessions_active") == 0 and total(found, "mcp_open_streams") == 0
    finally:
        stop_server(running)


def test_metrics_add_up_across_workers() -> None:
    running = start_server("tests/servers/ops_server.py", args=["--workers", "2"])
    try:
        with httpx.Client(timeout=5) as http:
            for _ in range(30):
                with httpx.Client(timeout=5) as fresh:  # new connections spread over both workers
                    assert modern_call(fresh, running.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}}).status_code == 200
            # Each worker writes its counts to the shared files at most once a second (metrics_shared.py), one series
            # after another: a scrape that reads while the other worker writes may see its requests but not yet its
            # tool times (17 of 30 in one CI run), so every series is waited for.
            deadline = time.monotonic() + 5
            series = [("mcp_requests_total", {"method": "tools/call"}), ("mcp_tool_calls_total", {"tool": "echo"}),
                      ("mcp_request_duration_seconds_count", {"method": "tools/call"}),
                      ("mcp_tool_duration_seconds_count", {"tool": "echo"})]
            while True:
                found = samples(http.get(running.base + "/metrics").text)
                if all(total(found, name, **labels) >= 30 for name, labels in series) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        assert total(found, "mcp_requests_total", method="tools/call") == 30
        assert total(found, "mcp_tool_calls_total", tool="echo") == 30
        assert total(found, "mcp_request_duration_seconds_count", method="tools/call") == 30
        assert total(found, "mcp_tool_duration_seconds_count", tool="echo") == 30
        assert total(found, "mcp_tool_duration_seconds_bucket", tool="echo", le="+Inf") == 30
        assert 0 < total(found, "mcp_tool_duration_seconds_sum", tool="echo") < 30
        assert total(found, "mcp_inflight_requests") == 0
    finally:
        stop_server(running)


def test_readiness_across_workers_is_one_series_per_live_worker() -> None:
    """The supervisor serves nothing and must not show up as a not-ready `mcp_ready 0`; a killed worker's series goes
    with it when uvicorn replaces it."""
    running = start_server("tests/servers/ops_server.py", args=["--workers", "2"])
    try:
        def ready() -> dict[str, float]:  # a new connection each time: a kept one may be the killed worker's
            text = httpx.get(running.base + "/metrics", timeout=5).text
            return {dict(items)["pid"]: value for (name, items), value in samples(text).items() if name == "mcp_ready"}

        deadline = time.monotonic() + 20
        while len(ready()) != 2 or set(ready().values()) != {1.0}:
            assert time.monotonic() < deadline, ready()
            time.sleep(0.2)
        victim = next(iter(ready()))
        os.kill(int(victim), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while victim in ready() or len(ready()) != 2 or set(ready().values()) != {1.0}:
            assert time.monotonic() < deadline, ready()
            time.sleep(0.2)
    finally:
        stop_server(running)


def test_metrics_can_live_on_a_separate_port() -> None:
    ops_port = free_port()
    running = start_server("tests/servers/ops_server.py", env={"BOSUN_METRICS_PORT": str(ops_port)})
    try:
        with httpx.Client(timeout=5) as http:
            modern_call(http, running.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
            assert http.get(running.base + "/metrics").status_code == 404
            scraped = http.get(f"http://127.0.0.1:{ops_port}/metrics")
            assert scraped.status_code == 200 and "mcp_requests_total" in scraped.text
    finally:
        stop_server(running)


def _serve_with_logs(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    import os

    port = free_port()
    process = subprocess.Popen([BOSUN, "serve", "tests/servers/ops_server.py", "--port", str(port), *args], cwd=ROOT,
                               env={**os.environ, "BOSUN_DRAIN_SECONDS": "0", **env}, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url.replace("/mcp", "/health"))
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("did not start")


def _stop_and_read(process: subprocess.Popen[str]) -> list[str]:
    process.terminate()
    _, stderr = process.communicate(timeout=20)
    return stderr.splitlines()


def test_json_logs_carry_request_ids_and_never_secrets() -> None:
    process, url = _serve_with_logs([], {"BOSUN_LOG_FORMAT": "json", "LOG_LEVEL": "info"})
    with httpx.Client(timeout=5) as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "leak", "arguments": {}, "_meta": meta()}}
        given = http.post(url, json=body, headers={**modern_headers("tools/call", "leak"), "x-request-id": "req-42"})
        generated = http.post(url, json=body, headers=modern_headers("tools/call", "leak"))
        for _ in range(20):
            modern_call(http, url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    lines = _stop_and_read(process)
    assert given.headers["x-request-id"] == "req-42"
    assert len(generated.headers["x-request-id"]) == 16
    records = [json.loads(line) for line in lines if line.startswith("{")]
    leaks = [record for record in records if record["logger"] == "app"]
    assert [record["request_id"] for record in leaks] == ["req-42", generated.headers["x-request-id"]]
    text = "\n".join(lines)
    assert "abcdefghijklmnop123" not in text and "hunter2" not in text and "[REDACTED]" in text
    assert not any(record["logger"] == "uvicorn.access" for record in records)  # no line per request by default
    assert len(records) < 15  # start-up and shutdown lines and the two warnings, not one per request


def test_access_log_can_be_switched_on() -> None:
    process, url = _serve_with_logs(["--access-log"], {"BOSUN_LOG_FORMAT": "json"})
    with httpx.Client(timeout=5) as http:
        for _ in range(3):
            modern_call(http, url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    records = [json.loads(line) for line in _stop_and_read(process) if line.startswith("{")]
    assert len([record for record in records if record["logger"] == "uvicorn.access"]) >= 3


def test_a_throttled_warning_is_said_once_per_period_with_a_count_of_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from bosun.ops.logs import Throttled

    throttled = Throttled(logging.getLogger("bosun.test.throttle"), seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="bosun.test.throttle"):
        for _ in range(50):
            throttled.warning("database unavailable: %s", "ConnectionRefusedError")
        time.sleep(0.25)
        throttled.warning("database unavailable: %s", "ConnectionRefusedError")
    lines = [record.getMessage() for record in caplog.records if record.name == "bosun.test.throttle"]
    assert lines == ["database unavailable: ConnectionRefusedError",
                     "database unavailable: ConnectionRefusedError (and 49 more like it since the last report)"]
