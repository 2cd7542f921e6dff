"""The servers the benchmark compares, the workloads each serves, and how to talk to each (request shape, sessions).

A workload is one MCP operation with fixed arguments and the answer it must give: `def` (a plain
`def add(a, b)` tool), `async` (`async def add_async(a, b)`), `model` (`def area(shape: Rect)`, a
pydantic model argument), `resource` (reading `bench://status`), and `search` (the reference
server's full-text search, served only by the notes targets).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def _number(expected: float) -> Callable[[dict[str, Any]], bool]:
    """A tool's answer is `expected`: in structuredContent, or else as the text of its first content block."""

    def check(result: dict[str, Any]) -> bool:
        if result.get("isError"):
            return False
        structured = result.get("structuredContent")
        if isinstance(structured, dict) and "result" in structured:
            return bool(structured["result"] == expected)
        try:
            return float(result["content"][0]["text"]) == expected
        except (KeyError, IndexError, TypeError, ValueError):
            return False

    return check


def _status_text(result: dict[str, Any]) -> bool:
    contents = result.get("contents") or [{}]
    return bool(contents[0].get("text") == "ok")


def _found_notes(result: dict[str, Any]) -> bool:
    return not result.get("isError") and bool((result.get("structuredContent") or {}).get("result"))


@dataclass(frozen=True)
class Workload:
    name: str
    title: str  # how the report names it
    method: str  # "tools/call" or "resources/read"
    params: dict[str, Any]
    expect: Callable[[dict[str, Any]], bool]  # given the JSON-RPC result: is it the right answer?
    answer: str  # the right answer, for error messages

    @property
    def header_name(self) -> str:
        """The Mcp-Name a 2026-07-28 request carries: the tool's name or the resource's URI."""
        return str(self.params["name"] if self.method == "tools/call" else self.params["uri"])


def _tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


WORKLOADS: dict[str, Workload] = {  # in report order: the plain `def` tool first, as most users write tools
    "def": Workload("def", "def add(a: int, b: int) -> int", "tools/call", _tool("add", {"a": 2, "b": 3}), _number(5), "5"),
    "async": Workload("async", "async def add_async(a: int, b: int) -> int", "tools/call",
                      _tool("add_async", {"a": 2, "b": 3}), _number(5), "5"),
    "model": Workload("model", "def area(shape: Rect) -> float, Rect a pydantic model", "tools/call",
                      _tool("area", {"shape": {"width": 2, "height": 3}}), _number(6.0), "6.0"),
    "resource": Workload("resource", "resources/read bench://status -> 'ok'", "resources/read", {"uri": "bench://status"},
                         _status_text, "'ok'"),
    "search": Workload("search", "search_notes on PostgreSQL (notes targets only)", "tools/call",
                       _tool("search_notes", {"query": "pool or cache", "limit": 10}), _found_notes, "some notes"),
}
OPERATIONS = ("def", "async", "model", "resource")  # what every server in bench/servers serves


@dataclass(frozen=True)
class Target:
    name: str
    python: Path
    module: str
    flow: str  # "modern" (2026-07-28, stateless), "session" (2025 initialize + Mcp-Session-Id), "stateless-legacy"
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    log_level: str = "warning"
    workloads: tuple[str, ...] = OPERATIONS
    prepare_database: bool = False
    authenticated: bool = False  # sends the bench JWT; the server trusts the bench key (bench/auth.py)
    served_by_bosun: bool = False  # `bosun serve` (its connection limits, as users run it) instead of plain uvicorn
    workers: int = 1  # `bosun serve --workers N`
    fresh_metrics_dir: bool = False  # a new, empty PROMETHEUS_MULTIPROC_DIR: prometheus_client's multiprocess mode


def all_targets() -> list[Target]:
    project = ROOT / ".venv" / "bin" / "python"
    baseline = os.environ.get("BENCH_BASELINE_SRC")  # another checkout's src/, to measure a change against it
    sdk = BENCH / ".venvs" / "sdk" / "bin" / "python"
    fastmcp = BENCH / ".venvs" / "fastmcp" / "bin" / "python"
    logs = {"LOG_LEVEL": "INFO", "BENCH_LOGGING": "json"}
    targets = [
        Target("bare", project, "bare_app:app", "modern", note="orjson ASGI handler, the ceiling"),
        Target("floor", project, "floor_app:app", "modern",
               note="the ceiling plus pydantic-validated arguments: the start-up and memory floor of a pydantic server"),
        Target("bosun", project, "bosun_app:app", "modern", logs,
               "2026-07-28 stateless; metrics on, JSON logs at INFO (the defaults), no authentication", "info"),
        Target("bosun-session", project, "bosun_app:app", "session", logs,
               "2025-11-25 session; metrics on, JSON logs at INFO, no authentication", "info"),
        Target("bosun-jwt", project, "bosun_app:app", "modern", logs,
               "2026-07-28 with a JWT (RS256), verified and scope-checked; the defaults (refusals audited)",
               "info", authenticated=True),
        Target("bosun-jwt-audit", project, "bosun_app:app", "modern", {**logs, "BOSUN_AUDIT": "all"},
               "bosun-jwt plus a full audit trail (BOSUN_AUDIT=all): one JSON line per call", "info", authenticated=True),
        Target("bosun-jwt-session", project, "bosun_app:app", "session", logs,
               "2025-11-25 session with a JWT; the defaults", "info", authenticated=True),
        Target("bosun-no-metrics", project, "bosun_app:app", "modern", {"BOSUN_METRICS_ENABLED": "false"},
               "2026-07-28 stateless; metrics off"),
        Target("bosun-readme", project, "readme_app:server", "modern", logs,
               "the README's first example as written (its cold start and idle RSS)", "info", workloads=("def",)),
        Target("bosun-mp-metrics", project, "bosun_app:app", "modern", logs,
               "bosun, one worker recording metrics in multiprocess mode (as each of --workers N does)", "info",
               fresh_metrics_dir=True),
        Target("bosun-2w", project, "bosun_app:app", "modern", logs,
               "bosun serve --workers 2 (multiprocess metrics, the default with workers)", "info", workers=2),
        Target("bosun-2w-no-metrics", project, "bosun_app:app", "modern", {"BOSUN_METRICS_ENABLED": "false"},
               "bosun serve --workers 2, metrics off", workers=2),
        Target("sdk-modern", sdk, "sdk_app:app", "modern", {"BENCH_SDK_MODE": "default"}, "mcp 2.3.0, 2026-07-28 request"),
        Target("sdk-session-json", sdk, "sdk_app:app", "session", {"BENCH_SDK_MODE": "json"}, "mcp 2.3.0, sessions, json_response"),
        Target("sdk-stateful", sdk, "sdk_app:app", "session", {"BENCH_SDK_MODE": "default"}, "mcp 2.3.0, sessions, SSE (default)"),
        Target("sdk-stateless-json", sdk, "sdk_app:app", "stateless-legacy", {"BENCH_SDK_MODE": "stateless-json"},
               "mcp 2.3.0, stateless_http + json_response"),
        Target("fastmcp", fastmcp, "fastmcp_app:app", "session", note="fastmcp 4.1.6 http_app() default"),
        Target("notes-search-warm", project, "notes_app:app", "modern", {"DATABASE_URL": NOTES_DB},
               "reference server search_notes on PostgreSQL, 2,000 notes, results cached", workloads=("search",),
               prepare_database=True),
        Target("notes-search-cold", project, "notes_app:app", "modern", {"DATABASE_URL": NOTES_DB, "BOSUN_TOOL_CACHE": "false"},
               "reference server search_notes on PostgreSQL, 2,000 notes, no result cache", workloads=("search",),
               prepare_database=True),
    ]
    # The production profile (issue 22), each part alone and all together: the manifests' settings against
    # the defaults. "{redis}" is the run's private Redis (bench/private_redis.py).
    redis = {"REDIS_URL": REDIS_PLACEHOLDER}
    limit = {"BOSUN_RATE_LIMIT": "1000000/second"}  # charged on every call, never reached
    prod = {**logs, **redis, **limit, "BOSUN_AUDIT": "all"}
    targets += [
        Target("bosun-redis", project, "bosun_app:app", "modern", {**logs, **redis},
               "2026-07-28; REDIS_URL only (cache, change bus, shared stores)", "info"),
        Target("bosun-session-redis", project, "bosun_app:app", "session", {**logs, **redis},
               "2025-11-25 session; sessions in Redis (REDIS_URL only)", "info"),
        Target("bosun-ratelimit", project, "bosun_app:app", "modern", {**logs, **redis, **limit},
               "2026-07-28; REDIS_URL and a per-client rate limit shared through it", "info"),
        Target("bosun-prod", project, "bosun_app:app", "modern", prod,
               "production profile, 2026-07-28: JWT, REDIS_URL, per-principal rate limit, audit of every call", "info",
               authenticated=True),
        Target("bosun-prod-session", project, "bosun_app:app", "session", prod,
               "production profile, 2025-11-25 session (sessions in Redis)", "info", authenticated=True),
        Target("bosun-prod-2w", project, "bosun_app:app", "modern", prod,
               "production profile, 2026-07-28, bosun serve --workers 2", "info", authenticated=True, workers=2),
    ]
    if baseline:
        targets.append(Target("bosun-baseline", project, "bosun_app:app", "modern", {**logs, "PYTHONPATH": baseline},
                              f"bosun, from {baseline}", "info"))
    targets.append(Target("bosun-plain-uvicorn", project, "bosun_app:app", "modern", logs,
                          "bosun under plain uvicorn (no connection limits): what those limits cost", "info"))
    # Bosun's own servers run as users run them: `bosun serve`, with its connection handling and limits.
    plain_uvicorn = ("bare", "floor", "bosun-plain-uvicorn")
    return [replace(target, served_by_bosun=True) if target.python == project and target.name not in plain_uvicorn
            else target for target in targets]


NOTES_DB = "postgresql://postgres@127.0.0.1:5432/bosun_bench"
REDIS_PLACEHOLDER = "{redis}"


def request_body(workload: Workload, modern: bool, request_id: int = 1) -> dict[str, Any]:
    params = {**workload.params, "_meta": MODERN_META} if modern else dict(workload.params)
    return {"jsonrpc": "2.0", "id": request_id, "method": workload.method, "params": params}


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


def open_session(target: Target, port: int) -> dict[str, str]:
    """Do the set-up the flow needs (a 2025 session: initialize); return the headers every request of it sends."""
    credentials: dict[str, str] = {}
    if target.authenticated:
        from auth import bearer

        credentials = bearer()
    if target.flow == "modern":
        return {"MCP-Protocol-Version": MODERN, **credentials}
    if target.flow == "stateless-legacy":
        return {"MCP-Protocol-Version": LEGACY, **credentials}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
    status, headers, text = post(port, init, credentials)
    if status != 200 or "mcp-session-id" not in headers:
        raise RuntimeError(f"{target.name}: initialize failed: {status} {text[:200]}")
    session = {"Mcp-Session-Id": headers["mcp-session-id"], "MCP-Protocol-Version": LEGACY, **credentials}
    post(port, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


def request(target: Target, workload: Workload, session: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """The headers and body every load request of `workload` sends on `session` (2026-07-28 adds Mcp-Method/Mcp-Name)."""
    if target.flow == "modern":
        return {**session, "Mcp-Method": workload.method, "Mcp-Name": workload.header_name}, request_body(workload, True)
    return session, request_body(workload, False)


def prepare(target: Target, port: int, workload: Workload) -> tuple[dict[str, str], dict[str, Any]]:
    return request(target, workload, open_session(target, port))


def verify(target: Target, port: int, workload: Workload, headers: dict[str, str], body: dict[str, Any]) -> None:
    """One real request before any load: a server that answers wrongly or with an error is reported, not benchmarked."""
    status, _, text = post(port, body, headers)
    try:
        result = result_of(text).get("result")
    except ValueError:
        result = None
    if status != 200 or not isinstance(result, dict) or not workload.expect(result):
        raise RuntimeError(f"{target.name}: {workload.name} ({workload.method} {workload.header_name}) did not answer "
                           f"{workload.answer}: {status} {text[:300]}")
