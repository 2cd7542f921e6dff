"""OAuth 2.1 resource server against a real OpenID Connect provider (oidc-provider), in both protocol eras."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authserver import OidcProvider, auth_env
from conftest import MODERN, Running, free_port, modern_headers, start_server, stop_server

LEGACY_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


class Setup:
    def __init__(self, provider: OidcProvider, server: Running, resource: str, log: Path) -> None:
        self.provider = provider
        self.server = server
        self.resource = resource
        self.log = log
        self.metrics_url = ""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("oauth")
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(directory, [resource, "http://127.0.0.1:1/other-service"])
    provider.start()
    log = directory / "server.log"
    metrics_port = free_port()  # with authentication on, /metrics is served on its own port only
    server = start_server("tests/servers/secure.py", port=port, log=log,
                          env=auth_env(provider, resource, BOSUN_AUTH_SCOPES="mcp", BOSUN_LOG_FORMAT="json", BOSUN_AUDIT="all",
                                       BOSUN_STATE_KEYS="k1", BOSUN_RESOURCE_NAME="Secure notes",
                                       BOSUN_RESOURCE_DOCUMENTATION="https://docs.example/secure",
                                       BOSUN_METRICS_PORT=str(metrics_port)))
    try:
        setup = Setup(provider, server, resource, log)
        setup.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        yield setup
    finally:
        stop_server(server)
        provider.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def call(http: httpx.Client, setup: Setup, token: str | None, method: str = "tools/call",
         params: dict[str, Any] | None = None) -> httpx.Response:
    params = params if params is not None else {"name": "echo", "arguments": {"text": "hi"}}
    headers = bearer(token) if token is not None else {}
    return http.post(setup.server.url, json={"jsonrpc": "2.0", "id": 7, "method": method,
                                             "params": {**params, "_meta": _meta()}},
                     headers={**modern_headers(method, params.get("name") or params.get("uri")), **headers})


def _meta() -> dict[str, Any]:
    return {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "0"}}


def challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of a `Bearer` WWW-Authenticate challenge."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    params = {}
    for part in header[len("Bearer "):].split('", '):
        name, _, value = part.partition("=")
        params[name.strip()] = value.strip().strip('"')
    return params


# Discovery.
def test_protected_resource_metadata_at_root_and_at_the_endpoint_path(secured: Setup) -> None:
    with httpx.Client(timeout=10) as http:
        for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
            answer = http.get(secured.server.base + path)
            assert answer.status_code == 200, path
            document = answer.json()
            assert document["resource"] == secured.resource
            assert document["authorization_servers"] == [secured.provider.issuer]
            assert document["bearer_methods_supported"] == ["header"]
            assert set(document["scopes_supported"]) == {"mcp", "notes:read", "notes:write", "admin"}
            assert "offline_access" not in document["scopes_supported"]
            assert document["resource_name"] == "Secure notes"
            assert document["resource_documentation"] == "https://docs.example/secure"
        assert http.post(secured.server.base + "/.well-known/oauth-protected-resource").status_code == 405


def test_the_official_client_discovers_the_provider_through_the_401_and_calls_tools(secured: Setup) -> None:
    """mcp 2.3.0's client-credentials extension: 401 -> metadata -> provider discovery -> token -> calls."""
    import httpx2
    from mcp import Client
    from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

    class Memory:
        def __init__(self) -> None:
            self.tokens: OAuthToken | None = None

        async def get_tokens(self) -> OAuthToken | None:
            return self.tokens

        async def set_tokens(self, tokens: OAuthToken) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> OAuthClientInformationFull | None:
            return None

        async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
            return None

    async def scenario(mode: str) -> dict[str, Any]:
        storage = Memory()
        oauth = ClientCredentialsOAuthProvider(secured.server.url, storage, "writer", "writer-secret",
                                               issuer=secured.provider.issuer)
        async with httpx2.AsyncClient(auth=oauth, timeout=30) as http_client:
            transport = streamable_http_client(secured.server.url, http_client=http_client)
            async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
                tools = await client.list_tools()
                written = await client.call_tool("write_note", {"title": "t", "body": "b"})
                who = await client.call_tool("whoami", {})
                return {"version": client.protocol_version, "tools": sorted(t.name for t in tools.tools),
                        "written": written.content[0].text, "who": who.structured_content,  # type: ignore[union-attr]
                        "token": storage.tokens.access_token if storage.tokens else None}

    for mode, version in (("auto", "2026-07-28"), ("legacy", "2025-11-25")):
        result = asyncio.run(scenario(mode))
        assert result["version"] == version
        # The 401 asked for "mcp" only, so the first token lists just the tools that need nothing more ...
        assert result["tools"] == ["confirm", "echo", "expensive", "login", "whoami"]
        # ... then write_note's 403 named "mcp notes:write", the client stepped up, and the retry went through.
        assert result["written"] == "saved t"
        assert result["who"]["subject"] == "writer" and result["who"]["client_id"] == "writer"
        assert result["who"]["issuer"] == secured.provider.issuer and result["who"]["method"] == "jwt"
        assert {"mcp", "notes:write"} <= set(result["who"]["scopes"]) and "admin" not in result["who"]["scopes"]
        assert result["token"] is not None


# Challenges.
def test_no_token_gets_401_with_metadata_and_scope_in_both_eras(secured: Setup) -> None:
    metadata = secured.server.base + "/.well-known/oauth-protected-resource/mcp"
    with httpx.Client(timeout=10) as http:
        modern = call(http, secured, None)
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        legacy = http.post(secured.server.url, json=init, headers=LEGACY_HEADERS)
        get_stream = http.get(secured.server.url, headers={"accept": "text/event-stream", "mcp-session-id": "x"})
        delete = http.delete(secured.server.url, headers={"mcp-session-id": "x"})
        for answer in (modern, legacy, get_stream, delete):
            assert answer.status_code == 401
            params = challenge(answer)
            assert params["resource_metadata"] == metadata
            assert params["scope"] == "mcp"
            assert "error" not in params
            body = answer.json()
            assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32001
            assert body["error"]["data"]["scope"] == "mcp"


def _invalid_cases(provider: OidcProvider, resource: str) -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    now = int(time.time())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid, key = provider.signing_key()
    public_pem = key.public_key().public_bytes(encoding=__import__("cryptography.hazmat.primitives.serialization",
                                                                   fromlist=["Encoding"]).Encoding.PEM,
                                               format=__import__("cryptography.hazmat.primitives.serialization",
                                                                 fromlist=["PublicFormat"]).PublicFormat.SubjectPublicKeyInfo)
    good = provider.mint({})
    head, body, signature = good.split(".")
    tampered_body = json.loads(_b64decode(body))
    tampered_body["scope"] = "mcp notes:read notes:write admin everything"
    import base64

    forged = base64.urlsafe_b64encode(json.dumps(tampered_body).encode()).decode().rstrip("=")
    unsigned_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).decode().rstrip("=")
    return {
        "expired": provider.mint({"exp": now - 600, "iat": now - 900}),
        "not yet valid": provider.mint({"nbf": now + 600}),
        "wrong issuer": provider.mint({"iss": "http://127.0.0.1:1/evil"}),
        "wrong audience": provider.token("reader", resource="http://127.0.0.1:1/other-service"),
        "no audience": provider.mint({"aud": None}),
        "unknown key": provider.mint({}, kid="not-a-published-key", key=stranger),
        "stranger's key with a published kid": provider.mint({}, key=stranger),
        "tampered payload": f"{head}.{forged}.{signature}",
        "alg none": f"{unsigned_header}.{body}.",
        "HMAC with the public key as secret": _hmac_token(public_pem, body, kid),
        "garbage": "not-a-token",
        "three dots of garbage": "a.b.c",
    }


def _b64decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hmac_token(secret: bytes, body: str, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()).decode().rstrip("=")
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def test_every_bad_token_gets_401_invalid_token_never_a_500(secured: Setup) -> None:
    cases = _invalid_cases(secured.provider, secured.resource)
    with httpx.Client(timeout=10) as http:
        assert call(http, secured, secured.provider.token("reader")).status_code == 200  # the control
        for name, token in cases.items():
            for answer in (call(http, secured, token),
                           http.post(secured.server.url, headers={**LEGACY_HEADERS, **bearer(token)},
                                     json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                                         "protocolVersion": "2025-11-25", "capabilities": {},
                                         "clientInfo": {"name": "t", "version": "1"}}})):
                assert answer.status_code == 401, name
                params = challenge(answer)
                assert params["error"] == "invalid_token", name
                assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")
                error = answer.json()["error"]
                assert error["code"] == -32001 and error["data"]["error"] == "invalid_token", name
                assert token not in answer.text
        malformed = call(http, secured, None)
        assert malformed.status_code == 401
        basic = http.post(secured.server.url, json={}, headers={**modern_headers("tools/list"), "authorization": "Basic abc"})
        assert basic.status_code == 401 and challenge(basic)["error"] == "invalid_token"


def test_specific_reasons_are_given(secured: Setup) -> None:
    cases = _invalid_cases(secured.provider, secured.resource)
    with httpx.Client(timeout=10) as http:
        def reason(name: str) -> str:
            return str(call(http, secured, cases[name]).json()["error"]["data"]["error_description"])

        assert "expired" in reason("expired")
        assert "not valid yet" in reason("not yet valid")
        assert "issuer" in reason("wrong issuer")
        assert "not issued for this resource" in reason("wrong audience")
        assert "key the issuer does not publish" in reason("unknown key")
        assert "signature" in reason("tampered payload")
        assert "algorithm" in reason("alg none") and "algorithm" in reason("HMAC with the public key as secret")


def test_missing_scope_gets_403_naming_only_what_the_operation_needs(secured: Setup) -> None:
    reader = secured.provider.token("reader")  # mcp notes:read
    with httpx.Client(timeout=10) as http:
        assert call(http, secured, reader, params={"name": "read_note", "arguments": {"title": "a"}}).status_code == 200
        refused = call(http, secured, reader, params={"name": "write_note", "arguments": {"title": "a", "body": "b"}})
        assert refused.status_code == 403
        params = challenge(refused)
        assert params["error"] == "insufficient_scope"
        assert params["scope"] == "mcp notes:write"
        assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")
        body = refused.json()
        assert body["id"] == 7 and body["error"]["code"] == -32003
        assert body["error"]["data"] == {"error": "insufficient_scope", "scope": "mcp notes:write",
                                         "error_description": body["error"]["data"]["error_description"]}
        both = call(http, secured, reader, params={"name": "move_note", "arguments": {"title": "a", "folder": "b"}})
        assert both.status_code == 403 and challenge(both)["scope"] == "mcp notes:read notes:write"  # one challenge, all of it
        private = call(http, secured, reader, "resources/read", {"uri": "notes://private/x"})
        assert private.status_code == 403 and challenge(private)["scope"] == "admin mcp"
        assert call(http, secured, reader, "resources/read", {"uri": "notes://public"}).status_code == 200
        prompt = call(http, secured, reader, "prompts/get", {"name": "draft", "arguments": {"topic": "x"}})
        assert prompt.status_code == 403 and challenge(prompt)["scope"] == "mcp notes:write"
        no_mcp = secured.provider.mint({"scope": "notes:read"})
        base = call(http, secured, no_mcp, "tools/list", {})
        assert base.status_code == 403 and challenge(base)["scope"] == "mcp"
        # The same inside a 2025 session.
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        opened = http.post(secured.server.url, json=init, headers={**LEGACY_HEADERS, **bearer(reader)})
        session = {**LEGACY_HEADERS, **bearer(reader), "mcp-session-id": opened.headers["mcp-session-id"],
                   "mcp-protocol-version": "2025-11-25"}
        write = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                 "params": {"name": "write_note", "arguments": {"title": "a", "body": "b"}}}
        legacy = http.post(secured.server.url, json=write, headers=session)
        assert legacy.status_code == 403 and challenge(legacy)["scope"] == "mcp notes:write"
        assert legacy.json()["id"] == 9 and legacy.json()["error"]["code"] == -32003
        read = {**write, "params": {"name": "read_note", "arguments": {"title": "a"}}}
        assert http.post(secured.server.url, json=read, headers=session).json()["result"]["content"][0]["text"] == "note a"


def test_lists_show_a_caller_only_what_it_may_use(secured: Setup) -> None:
    with httpx.Client(timeout=10) as http:
        def names(token: str, method: str, key: str, field: str = "name") -> set[str]:
            answer = call(http, secured, token, method, {})
            assert answer.status_code == 200
            result = answer.json()["result"]
            assert result["cacheScope"] == "private"  # lists differ per caller: no shared caching
            return {item[field] for item in result[key]}

        reader = secured.provider.token("reader")
        writer = secured.provider.token("writer")
        assert "write_note" not in names(reader, "tools/list", "tools")
        assert "move_note" not in names(reader, "tools/list", "tools")
        assert {"read_note", "echo"} <= names(reader, "tools/list", "tools")
        assert {"write_note", "move_note", "read_note"} <= names(writer, "tools/list", "tools")
        assert "draft" not in names(reader, "prompts/list", "prompts") and "draft" in names(writer, "prompts/list", "prompts")
        admin = secured.provider.mint({"scope": "mcp admin"})
        assert names(reader, "resources/templates/list", "resourceTemplates", "uriTemplate") == set()
        assert names(admin, "resources/templates/list", "resourceTemplates", "uriTemplate") == {"notes://private/{name}"}


def test_a_session_opened_by_one_principal_is_404_to_another(secured: Setup) -> None:
    reader = secured.provider.token("reader")
    writer = secured.provider.token("writer")
    with httpx.Client(timeout=10) as http:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        opened = http.post(secured.server.url, json=init, headers={**LEGACY_HEADERS, **bearer(reader)})
        assert opened.status_code == 200
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        assert http.post(secured.server.url, json=ping, headers={**LEGACY_HEADERS, **session, **bearer(reader)}).status_code == 200
        assert http.post(secured.server.url, json=ping, headers={**LEGACY_HEADERS, **session, **bearer(writer)}).status_code == 404
        assert http.post(secured.server.url, json=ping, headers={**LEGACY_HEADERS, **session}).status_code == 401
        stream = {"accept": "text/event-stream", **session}
        assert http.get(secured.server.url, headers={**stream, **bearer(writer)}).status_code == 404
        assert http.get(secured.server.url, headers=stream).status_code == 401
        assert http.delete(secured.server.url, headers={**session, **bearer(writer)}).status_code == 404
        assert http.delete(secured.server.url, headers=session).status_code == 401
        assert http.delete(secured.server.url, headers={**session, **bearer(reader)}).status_code == 200


def test_request_state_opens_only_for_the_principal_it_was_sealed_for(secured: Setup) -> None:
    reader = secured.provider.token("reader")
    other = secured.provider.mint({"sub": "someone-else", "client_id": "reader"})
    params = {"name": "confirm", "arguments": {"action": "deploy"}}
    with httpx.Client(timeout=10) as http:
        first = call(http, secured, reader, params=params).json()["result"]
        assert first["resultType"] == "input_required"
        (key,) = first["inputRequests"]
        retry = {**params, "requestState": first["requestState"],
                 "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}
        stolen = call(http, secured, other, params=retry)
        assert stolen.json()["error"]["code"] == -32602
        assert "different request" in stolen.json()["error"]["message"]
        assert call(http, secured, reader, params=retry).json()["result"]["content"][0]["text"] == "done"


def test_the_application_sees_the_principal_not_the_token(secured: Setup) -> None:
    token = secured.provider.token("reader")
    with httpx.Client(timeout=10) as http:
        who = call(http, secured, token, params={"name": "whoami", "arguments": {}}).json()["result"]["structuredContent"]
    assert who["subject"] == "reader" and who["method"] == "jwt"
    assert token not in json.dumps(who)


def test_audit_trail_and_metrics_record_calls_and_refusals_without_secrets(secured: Setup) -> None:
    token = secured.provider.token("reader")
    with httpx.Client(timeout=10) as http:
        call(http, secured, token, params={"name": "read_note", "arguments": {"title": "audited"}})
        call(http, secured, token, params={"name": "write_note", "arguments": {"title": "denied", "body": "x"}})
        call(http, secured, "bogus.token.value")
        metrics = http.get(secured.metrics_url).text
    time.sleep(0.3)
    records = [json.loads(line) for line in secured.log.read_text().splitlines() if line.startswith("{")]
    audits = [r["audit"] for r in records if r.get("logger") == "bosun.audit"]
    ok = [a for a in audits if a["method"] == "tools/call" and a["target"] == "read_note" and a["outcome"] == "ok"]
    assert ok and ok[-1]["principal"] == f"{secured.provider.issuer}#reader" and ok[-1]["client_id"] == "reader"
    assert ok[-1]["duration_ms"] >= 0 and "arguments" not in ok[-1]
    assert any(a["outcome"] == "refused:insufficient_scope" and a["target"] == "write_note" for a in audits)
    assert any(a["outcome"] == "refused:invalid_token" for a in audits)
    assert 'mcp_auth_refusals_total{reason="insufficient_scope",status="403"}' in metrics
    assert 'mcp_auth_refusals_total{reason="invalid_token",status="401"}' in metrics
    assert 'bosun_security_events_total{event="jwks_fetched"}' in metrics
    everything = secured.log.read_text() + metrics
    assert token not in everything and "bogus.token.value" not in everything
