"""The server the security tests drive: tools, resources and prompts with scopes and rate limits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bosun import Context, Server

server = Server("secure", "1.0.0")


class Confirmation(BaseModel):
    confirm: bool


@server.tool(scopes=["notes:read"])
def read_note(title: str) -> str:
    """Needs notes:read."""
    return f"note {title}"


@server.tool(scopes=["notes:write"])
async def write_note(title: str, body: str) -> str:
    """Needs notes:write."""
    return f"saved {title}"


@server.tool(scopes=["notes:read", "notes:write"])
def move_note(title: str, folder: str) -> str:
    """Needs both scopes."""
    return f"moved {title} to {folder}"


@server.tool()
async def echo(text: str) -> str:
    return text


@server.tool()
def whoami(ctx: Context) -> dict[str, Any]:
    """What the application sees of its caller."""
    auth = ctx.auth
    if auth is None:
        return {"anonymous": True}
    return {"subject": auth.subject, "client_id": auth.client_id, "issuer": auth.issuer, "scopes": sorted(auth.scopes),
            "method": auth.method, "claims": sorted(auth.claims)}


@server.tool()
async def confirm(action: str, ctx: Context) -> str:
    """Asks the user first: on 2026-07-28 this round-trips a sealed requestState."""
    answer = await ctx.elicit(f"Really {action}?", Confirmation)
    return "done" if answer.data and answer.data.confirm else "cancelled"


@server.tool(rate_limit="3/minute")
def expensive(n: int) -> int:
    """At most three calls a minute per caller."""
    return n * 2


@server.tool()
def login(username: str, password: str, note: str = "") -> str:
    """Takes a secret argument (and a note that may hold one), for audit redaction."""
    return f"hello {username}"


@server.resource("notes://public")
def public_notes() -> str:
    return "public"


@server.resource("notes://private/{name}", scopes=["admin"])
def private_note(name: str) -> str:
    return f"private {name}"


@server.prompt(scopes=["notes:write"])
def draft(topic: str) -> str:
    return f"Draft a note about {topic}"


@server.prompt()
def hello(name: str) -> str:
    return f"Hello {name}"
