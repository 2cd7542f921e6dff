"""Secrets stay out of the audit trail, the access log and `bosun config` when those features are on, and a request's
strings are bounded wherever they reach a log line or an audit record, so a big request cannot become a big log."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from authserver import OidcProvider, auth_env
from bosun.security.apikeys import new_key
from conftest import BOSUN, free_port, meta, modern_headers, start_server, stop_server

LEGACY_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
MIB = 1024 * 1024
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def _audits(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line)["audit"] for line in path.read_text().split("\n") if line]


def test_audited_arguments_never_hold_a_bare_token_an_api_key_or_a_secret_named_value(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(tmp_path, [resource])
    provider.start()
    audit = tmp_path / "audit.jsonl"
    server = start_server("tests/servers/hardened.py", port=port, env=auth_env(
        provider, resource, BOSUN_AUDIT="all", BOSUN_AUDIT_ARGUMENTS="true", BOSUN_AUDIT_LOG=str(audit)))
    token = provider.token("reader")  # a real access token, as a careless client might paste into an argument
    api_key = new_key()
    secrets = {"auth": "hunter2-auth", "signingKey": "sk-live-4f9a8b7c", "session_id": "sess-77aa88bb99"}
    try:
        with httpx.Client(timeout=10) as http:
            def call(name: str, arguments: dict[str, str]) -> None:
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": name, "arguments": arguments, "_meta": meta()}}
                answer = http.post(server.url, json=body, headers={**modern_headers("tools/call", name),
                                                                   "authorization": f"Bearer {token}"})
                assert answer.status_code == 200 and "error" not in answer.json()

            call("echo", {"text": token})
            call("echo", {"text": f"my key is {api_key}, keep it"})
            call("connect", {"endpoint": "https://bot:pa55@w0rd@db.example/x?api_key=qq-12345678", "note": "plain", **secrets})
    finally:
        stop_server(server)
        provider.stop()
    text = audit.read_text()
    for secret in (token, token.split(".")[1], api_key, api_key[4:], "pa55", "w0rd", "qq-12345678", *secrets.values()):
        assert secret not in text, secret
    calls = [record for record in _audits(audit) if record["outcome"] == "ok"]
    arguments = [record["arguments"] for record in calls]
    assert arguments[0] == {"text": "[REDACTED-JWT]"}
    assert arguments[1] == {"text": "my key is bsk_[REDACTED], keep it"}
    assert arguments[2]["note"] == "plain" and arguments[2]["auth"] == "[REDACTED]"


def test_the_access_log_keeps_query_names_but_never_their_values(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = start_server("tests/servers/hardened.py", env={"BOSUN_LOG_FORMAT": "json"}, log=log,
                          args=["--log-level", "info", "--access-log"])
    leaked = {"key": "k-3f1e2d", "jwt": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "auth": "a-9c8b7a",
              "access_token": "t-5e4d3c", "X-Amz-Signature": "5f5e5d5c", "page": "page-two"}
    try:
        with httpx.Client(timeout=10) as http:
            assert http.get(server.base + "/health", params=leaked).status_code == 200
            http.post(server.url, params={"api_key": "bsk_zzzzzzzzzzzz"}, json={}, headers=modern_headers("tools/list"))
            assert http.get(server.base + "/" + "p" * 20_000).status_code == 404
    finally:
        stop_server(server)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    lines = [record["msg"] for record in records if record["logger"] == "uvicorn.access"]
    assert len(lines) == 3, lines
    text = log.read_text()
    for value in [*leaked.values(), "bsk_zzzzzzzzzzzz"]:
        assert value not in text, value
    assert "key=[REDACTED]&jwt=[REDACTED]&auth=[REDACTED]" in lines[0] and "page=[REDACTED]" in lines[0]
    assert "/mcp?api_key=[REDACTED]" in lines[1]
    assert len(lines[2]) < 600 and "20001 chars" in lines[2]  # the path is bounded, with its length and a hash


def test_bosun_config_masks_passwords_in_every_url_setting(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("BOSUN_")}
    env.update({"BOSUN_SECRETS_DIR": str(tmp_path / "none"), "BOSUN_AUTH_ISSUER": "https://id.example.com",
                "BOSUN_AUTH_JWKS_URL": "https://keys:jwks-pw-1@id.example.com/jwks",
                "BOSUN_AUTH_INTROSPECTION_URL": "https://rs:intro@pw-2@id.example.com/introspect?api_key=q-pw-3",
                "BOSUN_AUTH_CLIENT_ID": "rs", "BOSUN_AUTH_CLIENT_SECRET": "client-pw-4",
                "BOSUN_AUTH_SERVERS": "https://a:servers-pw-5@id.example.com,https://b.example.com",
                "BOSUN_RESOURCE_DOCUMENTATION": "https://:docs-pw-6@docs.example.com",
                "REDIS_URL": "redis://:redis-pw-7@cache:6379/0", "DATABASE_URL": "postgresql://bosun:db-pw-8@db/bosun"})
    shown = subprocess.run([BOSUN, "config"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    for number, secret in enumerate(("jwks-pw", "intro@pw", "q-pw", "client-pw", "servers-pw", "docs-pw", "redis-pw", "db-pw"), 1):
        assert f"{secret}-{number}" not in shown.stdout and secret not in shown.stdout, secret
    rows = {line.split()[0]: line.split()[1] for line in shown.stdout.splitlines() if line.strip()}
    assert rows["BOSUN_AUTH_JWKS_URL"] == "https://keys:[REDACTED]@id.example.com/jwks"
    assert rows["BOSUN_AUTH_INTROSPECTION_URL"] == "https://rs:[REDACTED]@id.example.com/introspect?api_key=[REDACTED]"
    assert rows["BOSUN_AUTH_SERVERS"] == "https://a:[REDACTED]@id.example.com,https://b.example.com"
    # A bad value is echoed in the error, masked too.
    env["BOSUN_PORT"] = "https://u:port-pw-9@x"
    failed = subprocess.run([BOSUN, "config"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert failed.returncode == 2 and "BOSUN_PORT" in failed.stderr and "port-pw-9" not in failed.stderr


def test_refusals_of_huge_method_names_write_a_bounded_audit_trail(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(tmp_path, [resource])
    provider.start()
    audit = tmp_path / "audit.jsonl"  # the default mode with authentication on: refusals
    server = start_server("tests/servers/hardened.py", port=port,
                          env=auth_env(provider, resource, BOSUN_RATE_LIMIT="1/minute", BOSUN_AUDIT_LOG=str(audit)))
    try:
        with httpx.Client(timeout=30) as http:
            headers = {**modern_headers("tools/list"), "authorization": f"Bearer {provider.token('reader')}"}
            first = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}}
            admitted = http.post(server.url, json=first, headers=headers)  # the minute's one request
            assert admitted.status_code == 200, admitted.text[:300]
            for index in range(8):
                method = f"{index}/" + "m" * MIB  # a new 1 MiB name each time
                body = {"jsonrpc": "2.0", "id": 2, "method": method, "params": {}}
                refused = http.post(server.url, json=body, headers=headers)
                assert refused.status_code == 429, (index, refused.status_code, refused.text[:300])
    finally:
        stop_server(server)
        provider.stop()
    refusals = [record for record in _audits(audit) if record["outcome"] == "refused:rate_limited"]
    assert len(refusals) == 8, [record["outcome"] for record in _audits(audit)]
    assert audit.stat().st_size < 16 * 1024, audit.stat().st_size  # was 8 MiB: the whole name, every time
    methods = {str(record["method"]) for record in refusals}
    assert len(methods) == 8 and all(len(method) < 260 and f"{MIB + 2} chars" in method for method in methods)


def test_a_huge_response_id_makes_a_bounded_log_line(tmp_path: Path) -> None:
    """A 2025 client's response that no request waits for is logged with its id: the id is the client's to choose."""
    log = tmp_path / "server.log"
    server = start_server("tests/servers/hardened.py", env={"BOSUN_LOG_FORMAT": "json"}, log=log)
    try:
        with httpx.Client(timeout=30) as http:
            opened = http.post(server.url, json=INIT, headers=LEGACY_HEADERS)
            session = {**LEGACY_HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            stray = {"jsonrpc": "2.0", "id": "r" * MIB, "result": {}}
            assert http.post(server.url, json=stray, headers=session).status_code == 400
    finally:
        stop_server(server)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("matches no waiting request" in record["msg"] for record in records)
    assert log.stat().st_size < 16 * 1024, log.stat().st_size



def test_both_audit_sinks_bound_and_redact_alike(tmp_path: Path) -> None:
    from bosun.protocol.principal import Principal
    from bosun.security.audit import Audit

    fast, full = tmp_path / "fast.jsonl", tmp_path / "full.jsonl"
    caller = Principal(None, "https://issuer", "svc", frozenset(), "jwt")
    assert caller.key == "client:https://issuer#svc"
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
    for audit, path in ((Audit(True, False, str(fast)), fast), (Audit(True, False, str(full)), full)):
        for method, target, jsonrpc_id in (("x" * MIB, None, 1), ("tools/call", f"notes://{token}", "i" * MIB),
                                           ("resources/read", "y" * MIB, 2)):
            audit.record(caller, method, target, "ok", 0.001, jsonrpc_id, peer="127.0.0.1" if path == full else None)
        audit.flush()
    assert fast.stat().st_size < 4096 and full.stat().st_size < 4096
    for one, other in zip(_audits(fast), _audits(full), strict=True):
        other.pop("peer")
        assert one == other
    text = fast.read_text()
    assert token not in text and "[REDACTED-JWT]" in text and f"{MIB} chars" in text
