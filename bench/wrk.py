"""Drive wrk with a generated Lua script and read its numbers back as JSON."""

from __future__ import annotations

import json
import subprocess
import tempfile
from typing import Any

_REPORT = """
done = function(summary, latency, requests)
  io.write("BENCH_JSON ")
  io.write(string.format('{"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format('"p50_ms": %.3f, "p99_ms": %.3f}\\n', latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


_SENTINEL = 987654321


def _lua(header_sets: list[dict[str, str]], body: dict[str, Any]) -> str:
    """Every request gets a fresh JSON-RPC id and the next header set (one per session), round-robin.

    Unique ids matter: a session server may refuse or queue a second in-flight request with an id
    it already holds, which would measure the benchmark's shortcut rather than the server.
    """
    prefix, suffix = json.dumps({**body, "id": _SENTINEL}).split(str(_SENTINEL))
    sets = []
    for headers in header_sets:
        merged = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers}
        sets.append("{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in merged.items()) + "}")
    return f"""
local header_sets = {{{", ".join(sets)}}}
local prefix = {json.dumps(prefix)}
local suffix = {json.dumps(suffix)}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, header_sets[(counter % #header_sets) + 1], prefix .. counter .. suffix)
end
""" + _REPORT


def run_wrk(port: int, header_sets: list[dict[str, str]], body: dict[str, Any], connections: int, seconds: float,
            cpu: str | None = None) -> dict[str, Any]:
    """Load for `seconds` at `connections`; `cpu` pins wrk to that core (taskset)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_lua(header_sets, body))
        script.flush()
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script.name,
                   f"http://127.0.0.1:{port}/mcp"]
        if cpu is not None:
            command = ["taskset", "-c", cpu, *command]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    stats: dict[str, Any] = json.loads(line[len("BENCH_JSON "):])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats
