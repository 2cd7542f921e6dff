"""The server the hardening tests drive: a per-caller cached tool, an echo, and tools whose arguments hold secrets."""

from __future__ import annotations

import secrets
from typing import Any

from bosun import Context, Server

server = Server("hardened", "1.0.0")


@server.tool(cache_ttl=300)
def balance() -> str:
    """Cached per caller; a fresh random value each time it really runs, so a cache hit is visible."""
    return secrets.token_hex(8)


@server.tool()
async def echo(text: str) -> str:
    return text


@server.tool()
def whoami(ctx: Context) -> dict[str, Any]:
    auth = ctx.auth
    if auth is None:
        return {"anonymous": True}
    return {"subject": auth.subject, "client_id": auth.client_id, "method": auth.method}


@server.tool()
def connect(endpoint: str, auth: str = "", signingKey: str = "", session_id: str = "", note: str = "") -> str:
    """Arguments whose names say they are secret (and a note and URL that may hold one), for audit redaction."""
    return "connected"
