"""MCP Apps in a real browser: Debian's headless Chromium, the official AppBridge and TypeScript client, Bosun behind.

The host page (tests/apps/host.mjs, bundled by esbuild) is served on loopback from `host.localhost`, its sandbox
proxy from `sandbox.localhost`: two origins, as the specification requires. Bosun serves the notes dashboard example
and the official `server-basic-vanillajs` bridged twice (no prefix, and mounted as a gateway does, prefix `basic`).
Its Origin check stays on: the page's origin is in BOSUN_ALLOWED_ORIGINS, and another origin is refused. The
screenshot and what the driver saw are kept in tests/artifacts/ (printed at the end).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from apps.browser import artifacts, bundle, chromium, node, packages
from apps.pages import RESTRICTIVE, serve_pages

from conftest import ROOT, modern_call, modern_headers, start_server, stop_server

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UI = {"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}


def _started(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(base + "/startup", timeout=5).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("the app server did not finish starting")


def _drive(url: str, screenshot: Path) -> dict[str, Any]:
    done = subprocess.run([node(), str(ROOT / "tests/apps/drive.mjs"), chromium(), url, str(screenshot)],
                          capture_output=True, text=True, timeout=90)
    lines = done.stdout.strip().splitlines()  # the driver prints what it saw even when it failed (its watchdog: 60 s)
    assert lines, done.stderr[-3000:]
    seen: dict[str, Any] = json.loads(lines[-1])
    return seen


def test_views_render_in_sandboxed_frames_and_their_buttons_call_bosun_through_the_host(tmp_path: Path) -> None:
    packages()
    pages = tmp_path / "pages"
    pages.mkdir()
    bundle(pages)
    kept = artifacts()
    audit = tmp_path / "audit.log"
    with serve_pages(pages) as (port, policies):
        host, sandbox = f"http://host.localhost:{port}", f"http://sandbox.localhost:{port}"
        env = {"APPS_HOST_ORIGIN": host, "BOSUN_ALLOWED_ORIGINS": host, "BOSUN_MIGRATE_ON_START": "true", "DATABASE_URL": "",
               "BOSUN_DATA_DIR": str(tmp_path / "data"), "BOSUN_AUDIT": "all", "BOSUN_AUDIT_LOG": str(audit)}
        server = start_server("tests/apps/app_server.py", env=env)
        try:
            _started(server.base)
            with httpx.Client(timeout=10) as http:
                # The Origin check is on: another page's origin is refused; the host page's passes, by configuration.
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {}}}
                elsewhere = http.post(server.url, json=body, headers={**modern_headers("tools/list"),
                                                                      "origin": f"http://elsewhere.localhost:{port}"})
                assert elsewhere.status_code == 403 and "BOSUN_ALLOWED_ORIGINS" in elsewhere.text
                preflight = http.options(server.url, headers={"origin": host, "access-control-request-method": "POST",
                                                              "access-control-request-headers": "content-type,mcp-protocol-version"})
                assert preflight.headers.get("access-control-allow-origin") == host
                for title in ("Rollouts", "Pools"):
                    added = modern_call(http, server.url, "tools/call", {"name": "add_note", "arguments": {"title": title, "body": title}})
                    assert added.status_code == 200 and not added.json()["result"].get("isError"), added.text
            calls = [{"tool": "show_notes", "arguments": {}}, {"tool": "get-time"}, {"tool": "basic_get-time"}]
            url = f"{host}/host.html?" + urlencode({"server": server.url, "sandbox": f"{sandbox}/sandbox.html", "calls": json.dumps(calls)})
            started = time.monotonic()
            seen = _drive(url, kept / "apps-browser.png")
            seconds = time.monotonic() - started
        finally:
            stop_server(server)
    (kept / "apps-browser.json").write_text(json.dumps(seen, indent=1))
    print(f"\nscreenshot: {kept / 'apps-browser.png'}; what the browser saw: {kept / 'apps-browser.json'}; "
          f"Chromium run {seconds:.1f} s")
    assert "failure" not in seen and seen["state"] == "ready", seen.get("failure") or seen["events"]
    assert not [line for line in seen["console"] if line.startswith("error")], seen["console"]
    events = {(event["panel"], event["what"]): event["detail"] for event in seen["events"]}
    # The official client negotiated 2026-07-28 and found the extension declared; it lists the view-only tool.
    connected = events[("host", "connected")]  # a server with bridges also declares skills (bridge/skills.py)
    assert connected["version"] == "2026-07-28" and "io.modelcontextprotocol/ui" in connected["extensions"], connected
    assert {"show_notes", "dashboard_add_note", "get-time", "basic_get-time"} <= set(events[("host", "tools")])
    # Each view runs in a sandboxed frame on the sandbox's origin, under the restrictive CSP (none declared).
    for panel in ("p0", "p1", "p2"):
        framed = seen["panels"][panel]
        assert framed["sandbox"] == framed["viewSandboxed"] == "allow-scripts allow-same-origin allow-forms"
        assert framed["proxyOrigin"] == framed["viewOrigin"] == sandbox != seen["hostOrigin"] == host
    assert policies == [RESTRICTIVE] * 3
    # The dashboard shows the tool's result, then a note added by its button through the host, as Bosun answered.
    dashboard = seen["panels"]["p0"]
    assert events[("p0", "links")] == "ui://notes/dashboard"
    assert (dashboard["before"], dashboard["countBefore"]) == (["Pools", "Rollouts"], "(2)")
    assert (dashboard["after"], dashboard["countAfter"]) == (["Added from the view", "Pools", "Rollouts"], "(3)")
    assert events[("p0", "view-called")] == {"name": "dashboard_add_note", "isError": False}
    records = [json.loads(line)["audit"] for line in audit.read_text().splitlines() if line.startswith("{")]
    assert [record["outcome"] for record in records if record.get("target") == "dashboard_add_note"] == ["ok"]
    # The official basic view, bridged: its time from the tool's result, then a new one from its own button.
    basic = seen["panels"]["p1"]
    assert events[("p1", "links")] == "ui://get-time/mcp-app.html"
    assert ISO.match(basic["before"]) and ISO.match(basic["after"]) and basic["after"] > basic["before"], basic
    assert events[("p1", "view-called")] == {"name": "get-time", "isError": False}
    # Mounted under a prefix: the link was renamed with the view, so the host found and rendered it.
    assert events[("p2", "links")] == "ui://basic/get-time/mcp-app.html"
    assert ISO.match(seen["panels"]["p2"]["before"])
    shot = kept / "apps-browser.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
