"""The other credential paths: key rotation and issuer outages, static keys, introspection, API keys; start-up rules."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from authserver import OidcProvider, auth_env
from conftest import BOSUN, ROOT, free_port, modern_headers, start_server, stop_server

BODY = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hi"},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientCapabilities": {},
                             "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}}}}


def post(http: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    return http.post(url, json=BODY, headers={**modern_headers("tools/call", "echo"), **headers})


def test_rotated_keys_are_fetched_once_and_stale_keys_survive_an_issuer_outage(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(tmp_path, [resource])
    provider.start()
    metrics_port = free_port()  # with authentication on, /metrics is served on its own port only
    server = start_server("tests/servers/secure.py", port=port,
                          env=auth_env(provider, resource, BOSUN_METRICS_PORT=str(metrics_port)))
    try:
        with httpx.Client(timeout=10) as http:
            old = provider.token("reader")
            assert post(http, server.url, {"authorization": f"Bearer {old}"}).status_code == 200
            provider.rotate()  # new signing key; the old one is no longer published
            new = provider.token("reader")
            time.sleep(1.1)  # past BOSUN_AUTH_JWKS_MIN_REFRESH_SECONDS since the keys were fetched
            assert post(http, server.url, {"authorization": f"Bearer {new}"}).status_code == 200  # unknown kid -> refetch
            assert post(http, server.url, {"authorization": f"Bearer {provider.mint({})}"}).status_code == 200
            # The old key left the key set: a token it signed is no longer accepted, even one seen before.
            old_again = post(http, server.url, {"authorization": f"Bearer {old}"})
            assert old_again.status_code == 401 and "invalid_token" in old_again.headers["www-authenticate"]
            provider.stop()  # the issuer goes down: the keys in hand keep working
            for _ in range(5):
                assert post(http, server.url, {"authorization": f"Bearer {new}"}).status_code == 200
            time.sleep(1.1)
            stranger = provider.mint({}, kid="rotated-again")  # an unknown kid: one refetch, which fails
            assert post(http, server.url, {"authorization": f"Bearer {stranger}"}).status_code == 401
            metrics = http.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert 'bosun_security_events_total{event="jwks_fetch_failed"}' in metrics
    finally:
        stop_server(server)
        provider.stop()


def test_static_public_keys_need_no_network(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    provider = OidcProvider(tmp_path, ["http://127.0.0.1:1/unused"])
    provider.start()
    provider.stop()  # only its key file is used: no issuer is reachable in this test
    _, key = provider.signing_key()
    pem = tmp_path / "issuer.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    server = start_server("tests/servers/secure.py", port=port,
                          env={"BOSUN_AUTH_ISSUER": provider.issuer, "BOSUN_AUTH_PUBLIC_KEYS": str(pem),
                               "BOSUN_RESOURCE_URL": resource})
    try:
        with httpx.Client(timeout=10) as http:
            good = provider.mint({"aud": resource})
            assert post(http, server.url, {"authorization": f"Bearer {good}"}).status_code == 200
            assert post(http, server.url, {"authorization": f"Bearer {provider.mint({})}"}).status_code == 401  # wrong aud
    finally:
        stop_server(server)


def test_opaque_tokens_by_introspection_with_revocation_and_outage(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(tmp_path, [resource, "http://127.0.0.1:1/other-service"])
    provider.start()
    env = {"BOSUN_AUTH_INTROSPECTION_URL": f"{provider.issuer}/token/introspection", "BOSUN_AUTH_CLIENT_ID": "bosun-rs",
           "BOSUN_AUTH_CLIENT_SECRET": "rs-secret", "BOSUN_AUTH_SERVERS": provider.issuer, "BOSUN_RESOURCE_URL": resource,
           "BOSUN_AUTH_INTROSPECTION_CACHE_SECONDS": "1", "BOSUN_LOG_FORMAT": "json"}
    log = tmp_path / "server.log"
    server = start_server("tests/servers/secure.py", port=port, env=env, log=log)
    try:
        with httpx.Client(timeout=10) as http:
            token = provider.token("opaque")
            assert "." not in token
            assert post(http, server.url, {"authorization": f"Bearer {token}"}).status_code == 200
            other = provider.token("opaque", resource="http://127.0.0.1:1/other-service")
            wrong = post(http, server.url, {"authorization": f"Bearer {other}"})
            assert wrong.status_code == 401 and "not issued for this resource" in wrong.json()["error"]["message"]
            provider.revoke("opaque", token)
            time.sleep(1.2)  # the cached answer lapses (BOSUN_AUTH_INTROSPECTION_CACHE_SECONDS=1)
            revoked = post(http, server.url, {"authorization": f"Bearer {token}"})
            assert revoked.status_code == 401 and "not active" in revoked.json()["error"]["message"]
            fresh = provider.token("opaque")
            provider.stop()
            down = post(http, server.url, {"authorization": f"Bearer {fresh}"})
            assert down.status_code == 503 and down.headers["retry-after"] == "5"
            assert down.json()["error"]["code"] == -32603
    finally:
        stop_server(server)
        provider.stop()
    text = log.read_text()
    assert "rs-secret" not in text
    # The default audit mode with authentication on records refusals, not every call.
    audits = [line for line in text.splitlines() if '"logger":"bosun.audit"' in line]
    assert any('"refused:invalid_token"' in line for line in audits)
    assert not any('"outcome":"ok"' in line for line in audits)


def test_api_keys_are_hashed_scoped_and_rotate_without_restart(tmp_path: Path) -> None:
    created = subprocess.run([BOSUN, "apikey", "create", "ci-bot", "--scopes", "notes:read"], capture_output=True,
                             text=True, cwd=ROOT, check=True)
    key = next(line.split()[-1] for line in created.stdout.splitlines() if line.startswith("key:"))
    entry = next(line.split(": ", 1)[1] for line in created.stdout.splitlines() if line.startswith("line:"))
    assert key.startswith("bsk_") and key not in entry
    keys = tmp_path / "api-keys"
    keys.write_text(f"# name hash scopes\n{entry}\n")
    server = start_server("tests/servers/secure.py", env={"BOSUN_AUTH_API_KEYS_FILE": str(keys)})
    try:
        with httpx.Client(timeout=10) as http:
            def call_tool(name: str, headers: dict[str, str]) -> httpx.Response:
                body = {**BODY, "params": {**BODY["params"], "name": name, "arguments": {"title": "x", "body": "y"}}}
                return http.post(server.url, json=body, headers={**modern_headers("tools/call", name), **headers})

            assert call_tool("read_note", {"authorization": f"Bearer {key}"}).status_code == 200
            assert call_tool("read_note", {"x-api-key": key}).status_code == 200
            assert call_tool("write_note", {"x-api-key": key}).status_code == 403
            assert call_tool("read_note", {"x-api-key": key[:-2] + "xx"}).status_code == 401
            # Rotate: a second key appears, then the first is removed; no restart.
            second = subprocess.run([BOSUN, "apikey", "create", "ci-bot-2", "--scopes", "notes:read notes:write"],
                                    capture_output=True, text=True, cwd=ROOT, check=True).stdout
            second_key = next(line.split()[-1] for line in second.splitlines() if line.startswith("key:"))
            second_entry = next(line.split(": ", 1)[1] for line in second.splitlines() if line.startswith("line:"))
            keys.write_text(f"{second_entry}\n")
            deadline = time.monotonic() + 5
            while call_tool("read_note", {"x-api-key": key}).status_code != 401:
                assert time.monotonic() < deadline, "a removed key kept working"
                time.sleep(0.2)
            assert call_tool("write_note", {"x-api-key": second_key}).status_code == 200
            revoked = call_tool("read_note", {"x-api-key": key})
            assert "revoked" in revoked.json()["error"]["message"]
            assert not http.get(server.base + "/.well-known/oauth-protected-resource").is_success  # no OAuth: no metadata
    finally:
        stop_server(server)


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_server_off_loopback_without_auth_refuses_to_start_naming_the_settings(host: str) -> None:
    run = subprocess.run([BOSUN, "serve", "tests/servers/secure.py", "--host", host, "--port", str(free_port())],
                         capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert run.returncode == 2
    for setting in ("BOSUN_AUTH_ISSUER", "BOSUN_AUTH_API_KEYS_FILE", "BOSUN_AUTH=none"):
        assert setting in run.stderr


def test_oauth_off_loopback_needs_the_public_resource_uri() -> None:
    run = subprocess.run([BOSUN, "serve", "tests/servers/secure.py", "--host", "0.0.0.0", "--port", str(free_port())],
                         capture_output=True, text=True, cwd=ROOT, timeout=30,
                         env={**__import__("os").environ, "BOSUN_AUTH_ISSUER": "https://id.example"})
    assert run.returncode == 2 and "BOSUN_RESOURCE_URL" in run.stderr


def test_explicit_none_serves_open_off_loopback() -> None:
    server = start_server("tests/servers/secure.py", host="0.0.0.0", env={"BOSUN_AUTH": "none"})
    try:
        with httpx.Client(timeout=10) as http:
            assert post(http, server.url, {}).status_code == 200
    finally:
        stop_server(server)


def test_audit_records_reads_and_prompts_and_redacts_opted_in_arguments(tmp_path: Path) -> None:
    import json

    from bosun.security.apikeys import hash_key

    key = "bsk_audit-test-key-000000000000000000000000000000"
    keys = tmp_path / "keys"
    keys.write_text(f"auditor {hash_key(key)} mcp notes:write\n")
    audit = tmp_path / "audit.jsonl"
    env = {"BOSUN_AUTH_API_KEYS_FILE": str(keys), "BOSUN_AUDIT": "all", "BOSUN_AUDIT_ARGUMENTS": "true",
           "BOSUN_AUDIT_LOG": str(audit)}
    server = start_server("tests/servers/secure.py", env=env)
    try:
        with httpx.Client(timeout=10) as http:
            def send(method: str, params: dict[str, object], name: str) -> httpx.Response:
                body = {**BODY, "method": method, "params": {**params, "_meta": BODY["params"]["_meta"]}}
                return http.post(server.url, json=body, headers={**modern_headers(method, name), "x-api-key": key})

            assert send("tools/call", {"name": "login", "arguments": {"username": "ada", "password": "hunter2-secret",
                                                                      "note": "token=abcdef123456"}}, "login").status_code == 200
            assert send("resources/read", {"uri": "notes://public"}, "notes://public").status_code == 200
            assert send("prompts/get", {"name": "draft", "arguments": {"topic": "x"}}, "draft").status_code == 200
            assert send("resources/read", {"uri": "notes://private/x"}, "notes://private/x").status_code == 403
            assert send("tools/call", {"name": "nope", "arguments": {}}, "nope").json()["error"]["code"] == -32602
            unauthenticated = http.post(server.url, json=BODY, headers=modern_headers("tools/call", "echo"))
            assert unauthenticated.status_code == 401
    finally:
        stop_server(server)  # flushes the buffered records
    text = audit.read_text()
    records = [json.loads(line)["audit"] for line in text.splitlines()]
    by_target = {(r["method"], r["target"], r["outcome"]): r for r in records}
    login = by_target[("tools/call", "login", "ok")]
    assert login["principal"] == "apikey#auditor" and login["auth"] == "api_key"
    assert login["arguments"]["username"] == "ada" and login["arguments"]["password"] == "[REDACTED]"
    assert "hunter2" not in text and "abcdef123456" not in text and key not in text
    assert ("resources/read", "notes://public", "ok") in by_target
    assert ("prompts/get", "draft", "ok") in by_target
    assert ("resources/read", "notes://private/x", "refused:insufficient_scope") in by_target
    assert ("tools/call", "nope", "error:-32602") in by_target
    refused = [r for r in records if r["outcome"] == "refused:missing_token"]
    assert refused and refused[0]["peer"] == "127.0.0.1"
