"""Issue 20, against a real OpenID Connect provider: `subscriptions/listen` needs the scopes of the resources it
listens to; two credential (or session, version, Host) headers are a 400, not "the last one wins"; `/metrics`,
which names scope-hidden tools and needs no credential, leaves the MCP port when authentication is on."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authserver import OidcProvider, auth_env
from conftest import Running, free_port, meta, modern_headers, start_server, stop_server

TARGET = "tests/servers/scoped_updates.py"
LEGACY_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


class Setup:
    def __init__(self, provider: OidcProvider, server: Running, resource: str) -> None:
        self.provider = provider
        self.server = server
        self.resource = resource


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("listen")
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(directory, [resource])
    provider.start()
    server = start_server(TARGET, port=port, env=auth_env(provider, resource, BOSUN_AUTH_SCOPES="mcp"))
    try:
        yield Setup(provider, server, resource)
    finally:
        stop_server(server)
        provider.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def call(http: httpx.Client, url: str, token: str, method: str, params: dict[str, Any], name: str | None = None) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta()}}
    return http.post(url, json=body, headers={**modern_headers(method, name), **bearer(token)})


class Listening:
    """A `subscriptions/listen` stream read on a thread: its status, and the messages it carried."""

    def __init__(self, url: str, token: str, notifications: dict[str, Any]) -> None:
        self.status = 0
        self.body = b""
        self.messages: list[dict[str, Any]] = []
        self.answered = threading.Event()
        body = {"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
                "params": {"_meta": meta(), "notifications": notifications}}
        self.thread = threading.Thread(target=self._run, args=(url, token, body), daemon=True)
        self.thread.start()
        assert self.answered.wait(10), "no answer to subscriptions/listen"

    def _run(self, url: str, token: str, body: dict[str, Any]) -> None:
        headers = {**modern_headers("subscriptions/listen"), **bearer(token)}
        try:
            with httpx.Client(timeout=httpx.Timeout(10, read=6)) as client, client.stream("POST", url, json=body,
                                                                                          headers=headers) as stream:
                self.status = stream.status_code
                if stream.status_code != 200:
                    self.body = stream.read()
                    self.answered.set()
                    return
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        self.messages.append(json.loads(line[5:]))
                        self.answered.set()
        except httpx.ReadTimeout:
            pass  # the stream outlived the test's interest in it
        finally:
            self.answered.set()

    def updates(self, within: float = 3.0, expected: int = 1) -> list[str]:
        """The URIs of `notifications/resources/updated` received (waiting up to `within` s for `expected` of them)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = [m["params"]["uri"] for m in self.messages if m.get("method") == "notifications/resources/updated"]
            if len(found) >= expected:
                return found
            time.sleep(0.05)
        return [m["params"]["uri"] for m in self.messages if m.get("method") == "notifications/resources/updated"]


def touch(secured: Setup, uri: str) -> None:
    with httpx.Client(timeout=10) as http:
        reader = secured.provider.token("reader")
        answer = call(http, secured.server.url, reader, "tools/call", {"name": "touch", "arguments": {"uri": uri}}, "touch")
        assert answer.status_code == 200, answer.text


# 1. subscriptions/listen applies resource scopes.
def test_listening_to_a_resource_that_needs_another_scope_is_403_and_gets_no_update(secured: Setup) -> None:
    reader = secured.provider.token("reader")  # a real token from the issuer: mcp notes:read, no admin
    refused = Listening(secured.server.url, reader, {"resourceSubscriptions": ["secret://vault"]})
    touch(secured, "secret://vault")
    refused.thread.join(8)
    assert refused.status == 403, refused.messages
    assert refused.updates(within=0.5) == []
    error = json.loads(refused.body)
    assert error["id"] == "listen-1" and error["error"]["code"] == -32003
    assert error["error"]["data"]["error"] == "insufficient_scope" and error["error"]["data"]["scope"] == "admin mcp"
    # A template's scopes count too, and one unauthorized URI among allowed ones refuses the whole listen.
    mixed = Listening(secured.server.url, reader, {"resourceSubscriptions": ["public://board", "secret://files/plan"]})
    mixed.thread.join(8)
    assert mixed.status == 403 and json.loads(mixed.body)["error"]["data"]["scope"] == "admin mcp"
    # The same answer `resources/subscribe` gives the same token in a 2025 session.
    with httpx.Client(timeout=10) as http:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        opened = http.post(secured.server.url, json=init, headers={**LEGACY_HEADERS, **bearer(reader)})
        session = {**LEGACY_HEADERS, **bearer(reader), "mcp-session-id": opened.headers["mcp-session-id"],
                   "mcp-protocol-version": "2025-11-25"}
        subscribe = {"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": "secret://vault"}}
        legacy = http.post(secured.server.url, json=subscribe, headers=session)
        assert legacy.status_code == 403 and legacy.json()["error"]["data"]["scope"] == "admin mcp"


def test_listening_with_the_scope_gets_the_update_and_without_it_only_allowed_ones(secured: Setup) -> None:
    admin = secured.provider.mint({"scope": "mcp admin"})
    reader = secured.provider.token("reader")
    allowed = Listening(secured.server.url, admin, {"resourceSubscriptions": ["secret://vault", "secret://files/plan"]})
    public = Listening(secured.server.url, reader, {"resourceSubscriptions": ["public://board"], "toolsListChanged": True})
    assert allowed.status == 200 and public.status == 200
    (ack,) = allowed.messages
    assert ack["params"]["notifications"] == {"resourceSubscriptions": ["secret://files/plan", "secret://vault"]}
    touch(secured, "secret://vault")
    touch(secured, "public://board")
    assert allowed.updates() == ["secret://vault"]
    assert public.updates() == ["public://board"]  # and nothing of the vault's


# 7. Two credentials (or session ids, versions, Host lines) are a 400.
def _post(url: str, headers: list[tuple[str, str]]) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "touch", "arguments": {"uri": "public://board"}, "_meta": meta()}}
    base = [(name, value) for name, value in modern_headers("tools/call", "touch").items()]
    with httpx.Client(timeout=10) as http:
        return http.post(url, content=json.dumps(body).encode(), headers=base + headers)


def test_two_authorization_or_api_key_headers_are_a_400_not_the_last_one_wins(secured: Setup) -> None:
    good = secured.provider.token("reader")
    url = secured.server.url
    assert _post(url, [("authorization", f"Bearer {good}")]).status_code == 200
    for name, value in (("authorization", f"Bearer {good}"), ("x-api-key", good)):
        bogus = "Bearer not.a.token" if name == "authorization" else "not-a-key"
        for pair in ([(name, bogus), (name, value)], [(name, value), (name, bogus)], [(name, value), (name, value)]):
            answer = _post(url, pair)
            assert answer.status_code == 400, (name, answer.status_code)
            error = answer.json()["error"]
            assert error["code"] == -32600 and error["data"]["error"] == "invalid_request", error
            assert f"more than one {name} header" in error["message"]
            assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_request"')
            assert good not in answer.text


def test_two_session_ids_or_protocol_versions_or_hosts_are_a_400(secured: Setup) -> None:
    good = secured.provider.token("reader")
    url = secured.server.url
    # The request already carries one MCP-Protocol-Version, Mcp-Method and Mcp-Name: each case adds a second line.
    for name, extra in (("mcp-session-id", ["a", "b"]), ("mcp-protocol-version", ["2025-11-25"]), ("mcp-method", ["tools/call"]),
                        ("mcp-name", ["touch"])):
        answer = _post(url, [(name, value) for value in extra] + [("authorization", f"Bearer {good}")])
        assert answer.status_code == 400, (name, answer.text)
        error = answer.json()["error"]
        assert error["code"] == -32600 and f"more than one {name} header" in error["message"]
    # Two Host lines (RFC 9112 3.2: a 400), sent raw: an HTTP client will not.
    port = int(url.split(":")[2].split("/")[0])
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}'
    request = (f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nhost: evil.example\r\ncontent-type: application/json\r\n"
               f"accept: application/json, text/event-stream\r\nauthorization: Bearer {good}\r\n"
               f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(request)
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert b"more than one host header" in received


# 10. /metrics leaves the MCP port when authentication is on.
def _call_hidden_tool(secured: Setup, url: str) -> None:
    admin = secured.provider.mint({"scope": "mcp admin"})
    with httpx.Client(timeout=10) as http:
        answer = call(http, url, admin, "tools/call", {"name": "rotate_vault_keys", "arguments": {}}, "rotate_vault_keys")
        assert answer.status_code == 200, answer.text


def test_metrics_are_not_on_the_mcp_port_when_authentication_is_on(secured: Setup) -> None:
    _call_hidden_tool(secured, secured.server.url)
    reader = secured.provider.token("reader")
    with httpx.Client(timeout=10) as http:
        listed = call(http, secured.server.url, reader, "tools/list", {}).json()["result"]["tools"]
        assert "rotate_vault_keys" not in {tool["name"] for tool in listed}
        for headers in ({}, bearer(reader)):
            scraped = http.get(secured.server.base + "/metrics", headers=headers)
            assert scraped.status_code == 404, scraped.text[:200]
            assert "rotate_vault_keys" not in scraped.text and "BOSUN_METRICS_PORT" in scraped.json()["error"]["message"]


def test_metrics_port_serves_them_with_authentication_on_and_the_main_port_when_asked(secured: Setup, tmp_path: Path) -> None:
    metrics_port = free_port()
    env = auth_env(secured.provider, secured.resource, BOSUN_AUTH_SCOPES="mcp")
    for extra, where in (({"BOSUN_METRICS_PORT": str(metrics_port)}, f"http://127.0.0.1:{metrics_port}/metrics"),
                         ({"BOSUN_METRICS_ON_MAIN_PORT": "true"}, None)):
        port = free_port()
        running = start_server(TARGET, port=port, env={**env, **extra, "BOSUN_RESOURCE_URL": f"http://127.0.0.1:{port}/mcp",
                                                          "BOSUN_AUTH_AUDIENCES": secured.resource})
        try:
            _call_hidden_tool(secured, running.url)
            with httpx.Client(timeout=10) as http:
                if where is not None:
                    assert http.get(running.base + "/metrics").status_code == 404
                scraped = http.get(where or running.base + "/metrics")
            assert scraped.status_code == 200
            assert 'tool="rotate_vault_keys"' in scraped.text  # for the scraper: every tool
        finally:
            stop_server(running)
