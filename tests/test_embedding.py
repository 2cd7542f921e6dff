"""Embedding: a Bosun server mounted under /tools in a real Starlette app and a real FastAPI app served by plain
uvicorn, with its hooks chained into the host's lifespan and its OAuth metadata at the host's root; `root_path`
behind a proxy; custom routes and middleware on a standalone server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client

from conftest import ROOT, free_port, modern_call, start_server, stop_server

ISSUER = "https://issuer.test"


class Uvicorn:
    """Plain uvicorn, as a team already running a web app starts it."""

    def __init__(self, app: str, env: dict[str, str], *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--app-dir", "tests/servers", "--port",
                                         str(self.port), "--log-level", "warning", *extra], cwd=ROOT,
                                        env={**os.environ, **env})
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.base + "/", timeout=1)
                return
            except httpx.TransportError:
                assert self.process.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(15)


async def _official_client(url: str, mode: str) -> tuple[str, str]:
    async with Client(url, mode=mode) as client:  # type: ignore[arg-type]
        added = await client.call_tool("add", {"a": 20, "b": 22})
        return str(client.protocol_version), added.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("host", ["starlette_app", "fastapi_app"])
def test_mounted_under_a_prefix_with_probes_and_chained_lifespan(tmp_path: Path, host: str) -> None:
    marker = tmp_path / "lifespan"
    server = Uvicorn(f"hosted:{host}", {"HOSTED_MARKER": str(marker)})
    try:
        assert marker.read_text() == "host started\nbosun started\n"  # the server's start-up hook ran, inside the host's
        for mode, version in (("auto", "2026-07-28"), ("legacy", "2025-11-25")):
            assert asyncio.run(_official_client(server.base + "/tools/mcp", mode)) == (version, "42")
        with httpx.Client(timeout=5) as http:
            assert http.get(server.base + "/").status_code == 200  # the host's own routes are untouched
            for probe in ("health", "ready", "startup", "metrics"):
                assert http.get(f"{server.base}/tools/{probe}").status_code == 200, probe
            assert http.get(server.base + "/mcp").status_code == 404  # only under the prefix
            missing = http.get(server.base + "/tools/nowhere")
            assert missing.status_code == 404 and "/mcp" in missing.text
    finally:
        assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM once it has shut down cleanly
    assert marker.read_text() == "host started\nbosun started\nbosun stopped\nhost stopped\n"


def _keys(tmp_path: Path) -> tuple[Any, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "issuer.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, public


def test_oauth_metadata_at_the_host_root_when_mounted(tmp_path: Path) -> None:
    key, public = _keys(tmp_path)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/tools/mcp"
    env = {"BOSUN_AUTH_ISSUER": ISSUER, "BOSUN_AUTH_PUBLIC_KEYS": str(public), "BOSUN_RESOURCE_URL": resource}
    server = Uvicorn("hosted:starlette_app", env, port=port)
    try:
        with httpx.Client(timeout=5) as http:
            refused = modern_call(http, resource, "tools/call", {"name": "whoami", "arguments": {}})
            assert refused.status_code == 401
            challenge = refused.headers["www-authenticate"]
            metadata_url = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/tools/mcp"
            assert f'resource_metadata="{metadata_url}"' in challenge
            document = http.get(metadata_url)  # where the challenge points: the host's root, outside the mount
            assert document.status_code == 200
            assert document.json()["resource"] == resource and document.json()["authorization_servers"] == [ISSUER]
            now = int(time.time())
            token = jwt.encode({"iss": ISSUER, "sub": "ada", "aud": resource, "iat": now, "exp": now + 300, "scope": "mcp"},
                               key, algorithm="RS256", headers={"typ": "at+jwt"})
            http.headers["authorization"] = f"Bearer {token}"
            allowed = modern_call(http, resource, "tools/call", {"name": "whoami", "arguments": {}})
            assert allowed.status_code == 200 and allowed.json()["result"]["structuredContent"] == {"result": "ada"}
    finally:
        server.stop()


@pytest.fixture()
def custom(tmp_path: Path) -> Iterator[str]:
    running = start_server("tests/servers/custom_http.py")
    yield running.base
    stop_server(running)


def test_custom_routes_and_middleware_on_a_standalone_server(custom: str) -> None:
    with httpx.Client(timeout=5) as http:
        version = http.get(custom + "/version")
        assert version.status_code == 200 and version.json() == {"name": "custom", "version": "2.0.0"}
        assert version.headers["x-served-by"] == "custom-middleware" and version.headers["x-request-id"]
        called = modern_call(http, custom + "/mcp", "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        assert called.json()["result"]["structuredContent"] == {"result": 3}
        assert called.headers["x-served-by"] == "custom-middleware"  # the middleware wraps MCP too
        assert http.get(custom + "/health").headers["x-served-by"] == "custom-middleware"


def test_root_path_behind_a_proxy(tmp_path: Path) -> None:
    """`uvicorn --root-path /api`: a proxy strips /api before forwarding; the endpoint is still found."""
    server = Uvicorn("hosted:mcp", {}, "--root-path", "/api")
    try:
        with httpx.Client(timeout=5) as http:
            called = modern_call(http, server.base + "/mcp", "tools/call", {"name": "add", "arguments": {"a": 2, "b": 2}})
            assert called.status_code == 200 and called.json()["result"]["structuredContent"] == {"result": 4}
            assert http.get(server.base + "/health").status_code == 200
            lost = http.get(server.base + "/nowhere")
            assert lost.status_code == 404 and "the MCP endpoint is /api/mcp" in lost.text  # the public path, prefix included
    finally:
        server.stop()
