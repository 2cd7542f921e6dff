"""Isolation and the whole surface on bridged items, with npm's server-memory (a knowledge graph it keeps in a file).

`principal` isolation gives each caller a child of its own, and `{isolation_key}` in the child's environment gives
each child its own file: one principal never sees another's entities. Scopes named per bridged tool hide it from
a caller without them and refuse its calls; a rate limit per bridged tool is enforced; every call's audit record
names the bridge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from bridge_children import MEMORY, child_pids, start_bridge
from test_bridge import MODERN_META, modern_headers

from bosun.security.apikeys import hash_key
from conftest import Running, free_port, stop_server

ALICE = "bsk_alice-bridge-key-000000000000000000000000000"
BOB = "bsk_bob-bridge-key-0000000000000000000000000000000"


def _call(http: httpx.Client, server: Running, key: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments, "_meta": MODERN_META}}
    return http.post(server.url, json=body, headers={**modern_headers("tools/call", tool), "x-api-key": key})


def _tools(http: httpx.Client, server: Running, key: str) -> set[str]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}}
    answer = http.post(server.url, json=body, headers={**modern_headers("tools/list"), "x-api-key": key})
    return {tool["name"] for tool in answer.json()["result"]["tools"]}


def _graph(http: httpx.Client, server: Running, key: str) -> str:
    answer = _call(http, server, key, "read_graph", {})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["result"]["content"][0]["text"])


def test_principals_each_get_their_own_child_and_never_see_each_others_entities(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"alice {hash_key(ALICE)} memory:read memory:write\nbob {hash_key(BOB)} memory:read\n")
    audit = tmp_path / "audit.log"
    log = tmp_path / "server.log"
    scopes = {"create_entities": "memory:write", "delete_entities": "memory:write", "*": "memory:read"}
    env = {"BOSUN_AUTH_API_KEYS_FILE": str(keys), "BOSUN_AUDIT": "all", "BOSUN_AUDIT_LOG": str(audit),
           "BOSUN_METRICS_PORT": str(free_port())}
    server = start_bridge(MEMORY, log=log, env=env, name="memory", isolation="principal",
                          environment={"MEMORY_FILE_PATH": str(tmp_path / "memory-{isolation_key}.jsonl")},
                          tool_scopes=scopes, tool_rate_limits={"search_nodes": "3/minute"})
    try:
        with httpx.Client(timeout=30) as http:
            entity = {"entities": [{"name": "AliceSecret", "entityType": "note", "observations": ["only alice"]}]}
            created = _call(http, server, ALICE, "create_entities", entity)
            assert created.status_code == 200 and not created.json()["result"].get("isError"), created.text
            assert "AliceSecret" in _graph(http, server, ALICE)
            assert "AliceSecret" not in _graph(http, server, BOB)  # bob's child, bob's file
            # Scopes per bridged tool: bob cannot see or call the write tools.
            assert "create_entities" in _tools(http, server, ALICE)
            assert "create_entities" not in _tools(http, server, BOB) and "read_graph" in _tools(http, server, BOB)
            refused = _call(http, server, BOB, "create_entities", entity)
            assert refused.status_code == 403, refused.text
            # A rate limit per bridged tool, per caller.
            statuses = [_call(http, server, BOB, "search_nodes", {"query": "x"}).status_code for _ in range(5)]
            assert statuses == [200, 200, 200, 429, 429], statuses
            assert _call(http, server, ALICE, "search_nodes", {"query": "x"}).status_code == 200
    finally:
        stop_server(server)
    assert len(child_pids(log)) == 2  # one child per principal, however many calls
    files = sorted(path.name for path in tmp_path.glob("memory-*.jsonl"))
    assert len(files) == 1, files  # only alice wrote; bob's child never had a graph to save
    records = [json.loads(line)["audit"] for line in audit.read_text().splitlines() if line.startswith("{")]
    calls = [record for record in records if record.get("method") == "tools/call" and record.get("outcome") == "ok"]
    assert calls and all(record.get("via") == "bridge:memory" for record in calls), records[:2]
    assert ALICE not in log.read_text() and ALICE not in audit.read_text()
