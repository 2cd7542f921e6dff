"""The servers the benchmark compares, and how to talk to each (request shape, session set-up)."""

from __future__ import annotations

import http.client
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


@dataclass(frozen=True)
class Target:
    name: str
    python: Path
    module: str
    flow: str  # "modern" (2026-07-28, stateless), "session" (2025 initialize + Mcp-Session-Id), "stateless-legacy"
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    log_level: str = "warning"
    call: tuple[str, dict[str, Any]] = ("echo", {"text": "hi"})
    prepare_database: bool = False
    authenticated: bool = False  # sends the bench JWT; the server trusts the bench key (bench/auth.py)
    served_by_bosun: bool = False  # `bosun serve` (its connection limits, as users run it) instead of plain uvicorn


def all_targets() -> list[Target]:
    project = ROOT / ".venv" / "bin" / "python"
    baseline = os.environ.get("BENCH_BASELINE_SRC")  # another checkout's src/, to measure a change against it
    sdk = BENCH / ".venvs" / "sdk" / "bin" / "python"
    fastmcp = BENCH / ".venvs" / "fastmcp" / "bin" / "python"
    targets = [
        Target("bare", project, "bare_app:app", "modern", note="orjson ASGI handler, the ceiling"),
        Target("bosun", project, "bosun_app:app", "modern", {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json"},
               "2026-07-28 stateless; metrics on, JSON logs at INFO (the defaults), no authentication", "info"),
        Target("bosun-session", project, "bosun_app:app", "session", {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json"},
               "2025-11-25 session; metrics on, JSON logs at INFO, no authentication", "info"),
        Target("bosun-jwt", project, "bosun_app:app", "modern", {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json"},
               "2026-07-28 with a JWT (RS256), verified and scope-checked; the defaults (refusals audited)",
               "info", authenticated=True),
        Target("bosun-jwt-audit", project, "bosun_app:app", "modern",
               {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json", "BOSUN_AUDIT": "all"},
               "bosun-jwt plus a full audit trail (BOSUN_AUDIT=all): one JSON line per call", "info", authenticated=True),
        Target("bosun-jwt-session", project, "bosun_app:app", "session", {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json"},
               "2025-11-25 session with a JWT; the defaults", "info", authenticated=True),
        Target("bosun-no-metrics", project, "bosun_app:app", "modern", {"BOSUN_METRICS_ENABLED": "false"},
               "2026-07-28 stateless; metrics off"),
        Target("sdk-modern", sdk, "sdk_app:app", "modern", {"BENCH_SDK_MODE": "default"}, "mcp 2.3.0, 2026-07-28 request"),
        Target("sdk-session-json", sdk, "sdk_app:app", "session", {"BENCH_SDK_MODE": "json"}, "mcp 2.3.0, sessions, json_response"),
        Target("sdk-stateful", sdk, "sdk_app:app", "session", {"BENCH_SDK_MODE": "default"}, "mcp 2.3.0, sessions, SSE (default)"),
        Target("sdk-stateless-json", sdk, "sdk_app:app", "stateless-legacy", {"BENCH_SDK_MODE": "stateless-json"},
               "mcp 2.3.0, stateless_http + json_response"),
        Target("fastmcp", fastmcp, "fastmcp_app:app", "session", note="fastmcp 4.1.6 http_app() default"),
        Target("notes-search-warm", project, "notes_app:app", "modern", {"DATABASE_URL": NOTES_DB},
               "reference server search_notes on PostgreSQL, 2,000 notes, results cached", call=SEARCH, prepare_database=True),
        Target("notes-search-cold", project, "notes_app:app", "modern", {"DATABASE_URL": NOTES_DB, "BOSUN_TOOL_CACHE": "false"},
               "reference server search_notes on PostgreSQL, 2,000 notes, no result cache", call=SEARCH, prepare_database=True),
    ]
    if baseline:
        targets.append(Target("bosun-baseline", project, "bosun_app:app", "modern",
                              {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json", "PYTHONPATH": baseline},
                              f"bosun, from {baseline}", "info"))
    targets.append(Target("bosun-plain-uvicorn", project, "bosun_app:app", "modern", {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json"},
                          "bosun under plain uvicorn (no connection limits): what those limits cost", "info"))
    # Bosun's own servers run as users run them: `bosun serve`, with its connection handling and limits.
    return [replace(target, served_by_bosun=True) if target.python == project and target.name not in ("bare", "bosun-plain-uvicorn")
            else target for target in targets]


NOTES_DB = "postgresql://postgres@127.0.0.1:5432/bosun_bench"
SEARCH = ("search_notes", {"query": "pool or cache", "limit": 10})


def call_body(request_id: int = 1, call: tuple[str, dict[str, Any]] = ("echo", {"text": "hi"})) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": call[0], "arguments": call[1]}}


def modern_body(call: tuple[str, dict[str, Any]] = ("echo", {"text": "hi"})) -> dict[str, Any]:
    body = call_body(1, call)
    body["params"]["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                               "io.modelcontextprotocol/clientCapabilities": {}}
    return body


def post(port: int, body: dict[str, Any], headers: dict[str, str], timeout: float = 5.0) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = {"Content-Type": "application/json", "Accept": ACCEPT, **headers}
        connection.request("POST", "/mcp", json.dumps(body), all_headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def result_of(text: str) -> dict[str, Any]:
    """The JSON-RPC response in a body that is either JSON or an SSE stream."""
    if text.lstrip().startswith("{"):
        return dict(json.loads(text))
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            message = json.loads(line[5:])
            if "result" in message or "error" in message:
                return dict(message)
    raise ValueError(f"no JSON-RPC response in {text[:200]!r}")


def prepare(target: Target, port: int) -> tuple[dict[str, str], dict[str, Any]]:
    """Do any set-up the flow needs; return the headers and body every load request sends."""
    if target.authenticated:
        from auth import bearer

        headers, body = _prepare(target, port, bearer())
        return {**headers, **bearer()}, body
    return _prepare(target, port, {})


def _prepare(target: Target, port: int, credentials: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    if target.flow == "modern":
        headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": target.call[0]}
        return headers, modern_body(target.call)
    if target.flow == "stateless-legacy":
        return {"MCP-Protocol-Version": LEGACY}, call_body()
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
    status, headers, text = post(port, init, credentials)
    if status != 200 or "mcp-session-id" not in headers:
        raise RuntimeError(f"{target.name}: initialize failed: {status} {text[:200]}")
    session = {"Mcp-Session-Id": headers["mcp-session-id"], "MCP-Protocol-Version": LEGACY}
    post(port, {"jsonrpc": "2.0", "method": "notifications/initialized"}, {**session, **credentials})
    return session, call_body()


def verify(target: Target, port: int, headers: dict[str, str], body: dict[str, Any]) -> None:
    """One real call before any load: a server that answers with an error is reported, not benchmarked."""
    status, _, text = post(port, body, headers)
    message = result_of(text)
    result = message.get("result", {})
    content = result.get("content", [{}])
    expected = content[0].get("text") == "hi" if target.call[0] == "echo" else bool(result.get("structuredContent", {}).get("result"))
    if status != 200 or result.get("isError") or not expected:
        raise RuntimeError(f"{target.name}: tools/call did not return the echo: {status} {text[:300]}")
