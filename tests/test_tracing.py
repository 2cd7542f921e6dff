"""OpenTelemetry: a span per request and per tool call, parented by the caller's traceparent."""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx

from conftest import BOSUN, ROOT, free_port, meta, modern_call, modern_headers

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE}-b7ad6b7169203331-01"
HEADER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _spans(text: str) -> list[dict[str, object]]:
    decoder, spans, index = json.JSONDecoder(), [], 0
    while (start := text.find("{", index)) != -1:
        try:
            value, index = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(value, dict) and "context" in value:
            spans.append(value)
    return spans


def test_spans_for_requests_and_tools_follow_the_callers_trace() -> None:
    port = free_port()
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "ops-test", "BOSUN_DRAIN_SECONDS": "0"}
    process = subprocess.Popen([BOSUN, "serve", "tests/servers/ops_server.py", "--port", str(port), "--log-level", "warning"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        with httpx.Client(timeout=5) as http:
            modern_call(http, url, "tools/call", {"name": "echo", "arguments": {"text": "x"}}, extra_meta={"traceparent": PARENT})
            body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta()}}
            http.post(url, json=body, headers={**modern_headers("tools/list"), "traceparent": f"00-{HEADER_TRACE}-00f067aa0ba902b7-01"})
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    spans = {span["name"]: span for span in _spans(output)}
    request, tool, listing = spans["MCP tools/call"], spans["tools/call echo"], spans["MCP tools/list"]
    assert request["context"]["trace_id"] == f"0x{TRACE}"  # type: ignore[index]
    assert request["parent_id"] == "0xb7ad6b7169203331"
    assert tool["context"]["trace_id"] == f"0x{TRACE}" and tool["parent_id"] == request["context"]["span_id"]  # type: ignore[index]
    assert tool["attributes"]["gen_ai.tool.name"] == "echo"  # type: ignore[index]
    assert listing["context"]["trace_id"] == f"0x{HEADER_TRACE}"  # type: ignore[index]
    assert request["resource"]["attributes"]["service.name"] == "ops-test"  # type: ignore[index]
