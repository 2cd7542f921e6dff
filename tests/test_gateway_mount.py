"""`Server.mount`: a server's own tools and a mounted stdio server behind one endpoint and one scope model.

Scopes per backend and per tool hold even for a tool first loaded during the call that names it; a
backend's rate limit is one budget for all of its tools; the audit trail names the backend and the tool.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from conftest import BOSUN, ROOT, modern_call, start_server, stop_server


def _key(name: str, scopes: str) -> tuple[str, str]:
    created = subprocess.run([BOSUN, "apikey", "create", name, "--scopes", scopes], capture_output=True, text=True,
                             cwd=ROOT, check=True)
    key = next(line.split()[-1] for line in created.stdout.splitlines() if line.startswith("key:"))
    entry = next(line.split(": ", 1)[1] for line in created.stdout.splitlines() if line.startswith("line:"))
    return key, entry


def _call(http: httpx.Client, url: str, key: str, name: str, arguments: dict[str, object]) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    return modern_call_with(http, url, headers, name, arguments)


def modern_call_with(http: httpx.Client, url: str, headers: dict[str, str], name: str,
                     arguments: dict[str, object]) -> httpx.Response:
    http.headers.update(headers)
    try:
        return modern_call(http, url, "tools/call", {"name": name, "arguments": arguments})
    finally:
        for header in headers:
            del http.headers[header]


def test_own_tools_and_a_mounted_server_share_one_scope_model_one_budget_and_one_audit_trail(tmp_path: Path) -> None:
    alice, alice_entry = _key("alice", "tickets tickets:write")
    carol, carol_entry = _key("carol", "tickets")
    bob, bob_entry = _key("bob", "none")
    keys = tmp_path / "keys"
    keys.write_text("\n".join((alice_entry, carol_entry, bob_entry)) + "\n")
    log = tmp_path / "server.log"
    running = start_server("tests/servers/mounted.py", env={"BOSUN_AUTH_API_KEYS_FILE": str(keys), "BOSUN_AUDIT": "all"},
                           log=log, args=["--log-level", "info"])
    try:
        with httpx.Client(timeout=30) as http:
            # The first call of all names a tool not loaded yet: its scopes are still checked.
            refused = _call(http, running.url, bob, "tix_whoami", {})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == -32003 and "tickets" in refused.json()["error"]["message"]
            assert _call(http, running.url, bob, "whoami", {}).status_code == 200  # the server's own tool: no scope
            # Per tool: echo needs tickets:write too.
            assert _call(http, running.url, carol, "tix_echo", {"message": "x"}).status_code == 403
            assert _call(http, running.url, carol, "tix_whoami", {}).status_code == 200
            echoed = _call(http, running.url, alice, "tix_echo", {"message": "hello"})
            assert echoed.status_code == 200 and "hello" in echoed.text, echoed.text
            # One budget of 4 a minute for every tool of the mounted server, per caller: alice has used 1.
            statuses = [_call(http, running.url, alice, name, arguments).status_code
                        for name, arguments in (("tix_whoami", {}), ("tix_echo", {"message": "y"}), ("tix_whoami", {}),
                                                ("tix_echo", {"message": "z"}))]
            assert statuses == [200, 200, 200, 429], statuses
            assert _call(http, running.url, alice, "whoami", {}).status_code == 200  # the server's own are not in it
            assert _call(http, running.url, carol, "tix_whoami", {}).status_code == 200  # nor is another caller
            http.headers["authorization"] = f"Bearer {bob}"
            listed = [tool["name"] for tool in modern_call(http, running.url, "tools/list").json()["result"]["tools"]]
            assert "whoami" in listed
    finally:
        stop_server(running)
    records = [json.loads(line)["audit"] for line in log.read_text().splitlines() if '"logger":"bosun.audit"' in line]
    mounted = [record for record in records if record.get("via") == "bridge:tix"]
    assert {(record["target"], record["outcome"]) for record in mounted} >= {("tix_echo", "ok"), ("tix_whoami", "ok")}
    refusals = {record["target"] for record in records if record["outcome"] == "refused:insufficient_scope"}
    assert {"tix_whoami", "tix_echo"} <= refusals, refusals
    assert any(record["outcome"].startswith("refused:rate") for record in records), records[-5:]
    assert alice not in log.read_text() and bob not in log.read_text()
