"""OAuth 2.0 Protected Resource Metadata (RFC 9728): how clients find the authorization server.

Served, without authentication, at `/.well-known/oauth-protected-resource` and
at the same path followed by the MCP endpoint's path (and the public resource
URI's path, when a proxy maps it elsewhere). `scopes_supported` never lists
`offline_access`: refresh tokens are the client's business, not a resource
requirement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from bosun.security.options import SecurityOptions
from bosun.types import ASGIApp, Receive, Scope, Send

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_document(options: SecurityOptions, scopes_supported: tuple[str, ...]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resource": options.resource,
        "authorization_servers": list(options.authorization_servers),
        "scopes_supported": list(scopes_supported),
        "bearer_methods_supported": ["header"],
    }
    optional = {"resource_name": options.resource_name, "resource_documentation": options.resource_documentation,
                "resource_policy_uri": options.resource_policy_uri, "resource_tos_uri": options.resource_tos_uri}
    document.update({key: value for key, value in optional.items() if value})
    return document


def metadata_routes(options: SecurityOptions, mcp_path: str, scopes_supported: Callable[[], tuple[str, ...]]) -> dict[str, ASGIApp]:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = orjson.dumps(metadata_document(options, scopes_supported()))
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"cache-control", b"public, max-age=300"),
            (b"access-control-allow-origin", b"*")]})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})

    paths = {WELL_KNOWN, WELL_KNOWN + mcp_path.rstrip("/")}
    public_path = urlsplit(options.resource).path.rstrip("/")
    if public_path:
        paths.add(WELL_KNOWN + public_path)
    return dict.fromkeys(paths, endpoint)
