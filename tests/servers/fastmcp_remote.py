"""A 2025-only remote MCP server for the bridge's remote tests: the official Python SDK's FastMCP (mcp 1.x, from
.venv-children) over Streamable HTTP, with sessions, a GET stream and server requests on a call's stream.

    .venv-children/bin/python tests/servers/fastmcp_remote.py PORT [CERT KEY]    (with CERT and KEY: over TLS)

Each tool shows one thing the bridge must carry: progress on the call's stream, an elicitation answered by a POST
of the response, `list_changed` and `resources/updated` sent outside any call (on the session's GET stream), and
`whoami`, which says what credential reached it (the bridge's own, never its client's), and `end_session`, which
ends the caller's session from the server's side a moment after it answers (the next request on it gets a 404);
`bump` and `notes://reads` count how many times they ran (a request sent twice would show).
Its log (stderr, INFO) says when a client ends its session with DELETE ("Terminating session").
"""

from __future__ import annotations

import asyncio
import sys

from mcp.server.fastmcp import Context, FastMCP
from pydantic import AnyUrl, BaseModel

server = FastMCP("fastmcp-remote", host="127.0.0.1", port=int(sys.argv[1]), log_level="INFO")
_held: set[asyncio.Task[None]] = set()
_counts = {"bump": 0, "read": 0}


class Confirmation(BaseModel):
    confirm: bool


@server.tool()
def echo(text: str) -> str:
    return f"fastmcp: {text}"


@server.tool()
async def count(to: int, ctx: Context) -> str:  # type: ignore[type-arg]
    for step in range(1, to + 1):
        await ctx.report_progress(step, to, f"step {step}")
    return f"counted to {to}"


@server.tool()
async def confirm_action(action: str, ctx: Context) -> str:  # type: ignore[type-arg]
    answer = await ctx.elicit(f"Really {action}?", Confirmation)
    if answer.action == "accept" and answer.data.confirm:
        return f"confirmed {action}"
    return f"cancelled {action}"


@server.tool()
async def tools_changed(ctx: Context) -> str:  # type: ignore[type-arg]
    await ctx.session.send_tool_list_changed()
    return "ok"


@server.tool()
async def touch(uri: str, ctx: Context) -> str:  # type: ignore[type-arg]
    await ctx.session.send_resource_updated(AnyUrl(uri))
    return "ok"


@server.tool()
def whoami(ctx: Context) -> dict[str, str | None]:  # type: ignore[type-arg]
    request = ctx.request_context.request
    headers = getattr(request, "headers", {})
    return {"authorization": headers.get("authorization"), "x-api-key": headers.get("x-api-key")}


@server.tool()
async def end_session(ctx: Context) -> str:  # type: ignore[type-arg]
    session_id = ctx.request_context.request.headers.get("mcp-session-id")  # type: ignore[union-attr]
    transport = server.session_manager._server_instances[session_id]

    async def later() -> None:
        await asyncio.sleep(0.2)
        await transport.terminate()

    task = asyncio.get_running_loop().create_task(later())
    _held.add(task)
    task.add_done_callback(_held.discard)
    return "ending"


@server.tool()
def bump() -> int:
    """How many times it ran: a call sent twice would show."""
    _counts["bump"] += 1
    return _counts["bump"]


@server.resource("notes://reads", mime_type="text/plain")
def reads() -> str:
    """How many times it was read."""
    _counts["read"] += 1
    return str(_counts["read"])


@server.resource("notes://readme", mime_type="text/plain")
def readme() -> str:
    return "the remote's readme"


if __name__ == "__main__":
    if len(sys.argv) > 3:
        import uvicorn

        uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[1]), ssl_certfile=sys.argv[2],
                    ssl_keyfile=sys.argv[3], log_level="info")
    else:
        server.run("streamable-http")
