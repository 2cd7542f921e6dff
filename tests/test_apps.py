"""MCP Apps for authors and through the gateway: declared in both eras, views linked, checked, a text fallback.

The server tests run `bosun serve` on the notes dashboard example (examples/notes/dashboard.py) and on a gateway
file with the official `@modelcontextprotocol/server-basic-vanillajs`; the declaration tests build servers here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps.browser import node

from bosun import Server
from bosun.apps import Csp
from bosun.security.apikeys import hash_key
from conftest import BOSUN, MODERN, ROOT, Running, modern_call, start_server, stop_server

UI = {"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}
MIME = "text/html;profile=mcp-app"
PAGE = "<!doctype html><html><body>view</body></html>"
BASIC = ROOT / "tests/bridge/node_modules/@modelcontextprotocol/server-basic-vanillajs/dist/index.js"
LEGACY = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _serve_dashboard(tmp: Path, env: dict[str, str] | None = None) -> Running:
    settings = {"DATABASE_URL": "", "BOSUN_DATA_DIR": str(tmp), "BOSUN_MIGRATE_ON_START": "true", "BOSUN_READINESS_INTERVAL": "0.2"}
    return start_server("examples/notes/dashboard.py", env={**settings, **(env or {})})


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = _serve_dashboard(tmp_path_factory.mktemp("dashboard"))
    yield running
    stop_server(running)


def _session(http: httpx.Client, url: str, capabilities: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """A 2025-11-25 session: its headers, and the server's `initialize` answer."""
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "t", "version": "1"}}}
    answer = http.post(url, json=init, headers=LEGACY)
    assert answer.status_code == 200, answer.text
    headers = {**LEGACY, "mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers, answer.json()["result"]


def _legacy(http: httpx.Client, url: str, headers: dict[str, str], method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}, headers=headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def _modern(http: httpx.Client, url: str, method: str, params: dict[str, Any] | None = None,
            capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = modern_call(http, url, method, params, capabilities=capabilities)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def _by_name(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in tools}


# What Bosun checks when a view is declared: each refusal names the view and the value.
@pytest.mark.parametrize(("options", "says"), [
    ({"uri": "https://notes.example/dashboard"}, "ui:// scheme"),
    ({"html": "just text"}, "not an HTML document"),
    ({"html": "dashboard.html"}, "pass Path('dashboard.html')"),
    ({"html": Path("/nonexistent/dashboard.html")}, "cannot read /nonexistent/dashboard.html"),
    ({"csp": Csp(connect_domains=["https://api.example.com; script-src *"])}, "is not an origin"),
    ({"csp": Csp(resource_domains=["*"])}, "is not an origin"),
    ({"csp": Csp(resource_domains=["https://cdn.example.com/lib.js"])}, "is not an origin"),
    ({"csp": Csp(connect_domains=["http://api.example.com"])}, "plain http://"),
    ({"csp": {"connectDomain": ["https://api.example.com"]}}, "unknown CSP list 'connectDomain'"),
    ({"csp": {"connectDomains": "https://api.example.com"}}, "a list of origins"),
    ({"permissions": ["usb"]}, "unknown permission 'usb'"),
    ({"domain": "https://views.example.com"}, "bare host name"),
])
def test_a_view_with_a_value_a_host_would_misread_is_refused_at_declaration(options: dict[str, Any], says: str) -> None:
    server = Server("views")
    arguments = {"uri": "ui://notes/dashboard", "html": PAGE, **options}
    with pytest.raises(ValueError, match="ui://notes/dashboard|https://notes.example") as refused:
        server.view(arguments.pop("uri"), arguments.pop("html"), **arguments)
    assert says in str(refused.value)
    assert not server.registry.resources


def test_a_declared_view_carries_its_meta_on_the_listing_and_the_contents(tmp_path: Path) -> None:
    page = tmp_path / "view.html"
    page.write_text("\ufeff<!-- built -->\n<!DOCTYPE html><html><body>ok</body></html>")
    server = Server("views")
    view = server.view("ui://notes/dashboard", html=page, permissions=["clipboard-write", "camera"], prefers_border=False,
                       csp={"connect_domains": ["wss://live.example.com:8443", "http://localhost:5173"],
                            "resourceDomains": ["https://*.cdn.example.com"]}, domain="views.example.com")
    expected = {"csp": {"connectDomains": ["wss://live.example.com:8443", "http://localhost:5173"],
                        "resourceDomains": ["https://*.cdn.example.com"]},
                "permissions": {"clipboardWrite": {}, "camera": {}}, "domain": "views.example.com", "prefersBorder": False}
    assert view.meta == expected
    resource = server.registry.resources["ui://notes/dashboard"]
    assert resource.definition == {"uri": "ui://notes/dashboard", "name": "dashboard", "mimeType": MIME, "_meta": {"ui": expected}}
    assert "io.modelcontextprotocol/ui" in server.capabilities()["extensions"]


def test_tool_links_are_checked_and_a_link_to_no_view_fails_the_build() -> None:
    server = Server("links")
    server.view("ui://links/view", html=PAGE)
    with pytest.raises(ValueError, match="visibility holds 'model' and/or 'app'"):
        server.tool(ui="ui://links/view", visibility=["user"])(lambda: "x")
    with pytest.raises(ValueError, match="not both"):
        server.tool(ui="ui://links/view", meta={"ui": {}})(lambda: "x")

    @server.tool(ui="ui://links/missing", name="orphan")
    def orphan() -> str:
        return "x"

    with pytest.raises(ValueError, match="tool 'orphan' links to the view 'ui://links/missing'.*server.view"):
        server.asgi_app()

    plain = Server("plain")

    @plain.resource("ui://plain/page", mime_type="text/html")
    def page() -> str:
        return PAGE

    plain.tool(ui="ui://plain/page", name="shows")(lambda: "x")
    with pytest.raises(ValueError, match="whose MIME type is 'text/html'"):
        plain.asgi_app()


def test_the_extension_is_declared_in_both_eras_and_tools_link_to_their_view(dashboard: Running) -> None:
    with httpx.Client(timeout=10) as http:
        _, initialized = _session(http, dashboard.url, UI)
        assert initialized["capabilities"]["extensions"] == {"io.modelcontextprotocol/ui": {}}
        discovered = _modern(http, dashboard.url, "server/discover")
        assert discovered["capabilities"]["extensions"] == {"io.modelcontextprotocol/ui": {}}
        tools = _by_name(_modern(http, dashboard.url, "tools/list", capabilities=UI)["tools"])
        assert tools["show_notes"]["_meta"] == {"ui": {"resourceUri": "ui://notes/dashboard"}, "ui/resourceUri": "ui://notes/dashboard"}
        assert tools["dashboard_add_note"]["_meta"]["ui"] == {"resourceUri": "ui://notes/dashboard", "visibility": ["app"]}
        views = [item for item in _modern(http, dashboard.url, "resources/list", capabilities=UI)["resources"] if item["mimeType"] == MIME]
        assert views == [{"uri": "ui://notes/dashboard", "name": "dashboard", "title": "Notes dashboard",
                          "description": "The latest notes, and a form to add one", "mimeType": MIME,
                          "_meta": {"ui": {"prefersBorder": True}}}]
        read = _modern(http, dashboard.url, "resources/read", {"uri": "ui://notes/dashboard"}, capabilities=UI)["contents"]
        assert len(read) == 1 and read[0]["mimeType"] == MIME and read[0]["_meta"] == {"ui": {"prefersBorder": True}}
        assert read[0]["text"] == (ROOT / "examples/notes/dashboard.html").read_text()


def test_a_client_without_the_extension_gets_plain_tools_and_text_results(dashboard: Running) -> None:
    with httpx.Client(timeout=10) as http:
        headers, _ = _session(http, dashboard.url, {})
        for tools in (_modern(http, dashboard.url, "tools/list")["tools"], _legacy(http, dashboard.url, headers, "tools/list")["tools"]):
            listed = _by_name(tools)
            assert "dashboard_add_note" not in listed and "add_note" in listed  # view-only: not for a model
            assert "_meta" not in listed["show_notes"]
        for resources in (_modern(http, dashboard.url, "resources/list")["resources"],
                          _legacy(http, dashboard.url, headers, "resources/list")["resources"]):
            assert all(item.get("mimeType") != MIME for item in resources)
        _modern(http, dashboard.url, "tools/call", {"name": "add_note", "arguments": {"title": "Fallback", "body": "as text"}})
        shown = _legacy(http, dashboard.url, headers, "tools/call", {"name": "show_notes", "arguments": {}})
        assert shown["content"][0]["type"] == "text" and "Fallback" in json.loads(shown["content"][0]["text"])["notes"][0]["title"]
        ui_headers, _ = _session(http, dashboard.url, UI)
        assert "dashboard_add_note" in _by_name(_legacy(http, dashboard.url, ui_headers, "tools/list")["tools"])


def _stdio_tools(capabilities: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """One 2025 session over stdio: the `initialize` answer and the tools it lists."""
    lines = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "t", "version": "1"}}},
             {"jsonrpc": "2.0", "method": "notifications/initialized"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
    done = subprocess.run([BOSUN, "serve", "examples/notes/dashboard.py", "--transport", "stdio"], cwd=ROOT, env=env,
                          input="".join(json.dumps(line) + "\n" for line in lines), capture_output=True, text=True, timeout=60)
    answers = {message["id"]: message["result"] for message in map(json.loads, done.stdout.splitlines()) if "id" in message}
    return answers[1], _by_name(answers[2]["tools"])


def test_the_fallback_holds_over_stdio_too(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "", "BOSUN_DATA_DIR": str(tmp_path), "BOSUN_MIGRATE_ON_START": "true"}
    initialized, tools = _stdio_tools(UI, env)
    assert initialized["capabilities"]["extensions"] == {"io.modelcontextprotocol/ui": {}}
    assert tools["dashboard_add_note"]["_meta"]["ui"]["visibility"] == ["app"]
    _, plain = _stdio_tools({}, env)
    assert "dashboard_add_note" not in plain and "_meta" not in plain["show_notes"]


def test_a_views_tool_calls_need_their_scopes_and_are_audited(tmp_path: Path) -> None:
    reader, writer = "bsk_apps-reader-key-00000000000000000000000000", "bsk_apps-writer-key-00000000000000000000000000"
    keys = tmp_path / "keys"
    keys.write_text(f"reader {hash_key(reader)}\nwriter {hash_key(writer)} notes:write\n")
    audit = tmp_path / "audit.log"
    secured = {"BOSUN_AUTH_API_KEYS_FILE": str(keys), "BOSUN_AUDIT": "all", "BOSUN_AUDIT_LOG": str(audit)}
    server = _serve_dashboard(tmp_path / "data", secured)
    add = {"name": "dashboard_add_note", "arguments": {"title": "From the view"}}
    try:
        with httpx.Client(timeout=10) as http:
            def as_(key: str, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
                body = {"jsonrpc": "2.0", "id": 1, "method": method,
                        "params": {**(params or {}), "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                                                               "io.modelcontextprotocol/clientCapabilities": UI}}}
                name = (params or {}).get("name")
                headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
                           "mcp-protocol-version": MODERN, "mcp-method": method, "x-api-key": key, **({"mcp-name": name} if name else {})}
                return http.post(server.url, json=body, headers=headers)

            assert "dashboard_add_note" not in _by_name(as_(reader, "tools/list").json()["result"]["tools"])
            assert "dashboard_add_note" in _by_name(as_(writer, "tools/list").json()["result"]["tools"])
            refused = as_(reader, "tools/call", add)
            assert refused.status_code == 403 and "notes:write" in refused.headers["www-authenticate"], refused.text
            added = as_(writer, "tools/call", add)
            assert added.status_code == 200 and added.json()["result"]["structuredContent"]["notes"][0]["title"] == "From the view"
    finally:
        stop_server(server)
    records = [json.loads(line)["audit"] for line in audit.read_text().splitlines() if line.startswith("{")]
    calls = [(record["principal"], record["outcome"]) for record in records if record.get("target") == "dashboard_add_note"]
    assert calls == [("apikey#reader", "refused:insufficient_scope"), ("apikey#writer", "ok")], records


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("gateway")
    (folder / "gateway.json").write_text(json.dumps({"name": "apps-gateway", "mcpServers": {
        "basic": {"command": node(), "args": [str(BASIC), "--stdio"], "required": True, "warm": 1}}}))
    running = start_server(str(folder / "gateway.json"))
    yield running
    stop_server(running)


def test_a_gateway_passes_a_bridged_view_through_with_its_link_renamed(gateway: Running) -> None:
    with httpx.Client(timeout=30) as http:
        _, initialized = _session(http, gateway.url, UI)
        assert initialized["capabilities"]["extensions"] == {  # a gateway passes skills through too (bridge/skills.py)
            "io.modelcontextprotocol/ui": {}, "io.modelcontextprotocol/skills": {"directoryRead": True}}
        tool = _by_name(_modern(http, gateway.url, "tools/list", capabilities=UI)["tools"])["basic_get-time"]
        assert tool["_meta"]["ui"] == {"resourceUri": "ui://basic/get-time/mcp-app.html"}
        assert tool["_meta"]["ui/resourceUri"] == "ui://basic/get-time/mcp-app.html"
        resources = _modern(http, gateway.url, "resources/list", capabilities=UI)["resources"]
        listed = [item for item in resources if item.get("mimeType") == MIME]
        assert [item["uri"] for item in listed] == ["ui://basic/get-time/mcp-app.html"]
        read = _modern(http, gateway.url, "resources/read", {"uri": "ui://basic/get-time/mcp-app.html"}, capabilities=UI)["contents"]
        assert read[0]["uri"] == "ui://basic/get-time/mcp-app.html" and read[0]["mimeType"] == MIME
        assert 'id="get-time-btn"' in read[0]["text"]
        plain = _by_name(_modern(http, gateway.url, "tools/list")["tools"])["basic_get-time"]
        assert "ui" not in plain.get("_meta", {}) and "ui/resourceUri" not in plain.get("_meta", {})
        assert all(item.get("mimeType") != MIME for item in _modern(http, gateway.url, "resources/list")["resources"])
        called = _modern(http, gateway.url, "tools/call", {"name": "basic_get-time", "arguments": {}})
        assert called["content"][0]["text"] == called["structuredContent"]["time"]
        # The limit docs/apps.md names: the view calls `get-time`, its server's own name, which the prefix hides.
        by_own_name = modern_call(http, gateway.url, "tools/call", {"name": "get-time", "arguments": {}}).json()
        assert "Unknown tool: get-time" in by_own_name["error"]["message"]
