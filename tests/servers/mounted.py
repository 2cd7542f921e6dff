"""A server with its own tools and a stdio server mounted under a prefix: one endpoint, one scope model.

The mounted server (tests/servers/misbehaving_child.py) is not started with the server (warm=0), so its
tools are first known during a call: their scopes must still be checked for that call.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bosun import Context, Server

server = Server("platform")
CHILD = [sys.executable, str(Path(__file__).with_name("misbehaving_child.py")), "normal"]


@server.tool()
def whoami(ctx: Context) -> dict[str, Any]:
    """This server's own tool, beside the mounted ones."""
    return {"subject": ctx.auth.subject if ctx.auth is not None else None}


server.mount("tix", CHILD, warm=0, tool_scopes={"*": ("tickets",), "echo": ("tickets", "tickets:write")},
             rate_limit="4/minute")
