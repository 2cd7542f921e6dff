"""The official SDK (mcp 2.3.0, MCPServer) serving the same four operations, in the mode BENCH_SDK_MODE names.

The operations: `add` (a plain `def`), `add_async` (an `async def`), `area` (a pydantic model
argument) and the resource `bench://status`, written as the SDK's documentation writes them.

default:        streamable_http_app() as documented (sessions; also answers 2026-07-28 requests statelessly)
json:           json_response=True (sessions, JSON responses instead of SSE)
stateless-json: stateless_http=True, json_response=True (no sessions)
"""

import logging
import os

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

logging.disable(logging.INFO)  # the SDK logs a line per request at INFO; not what is being measured
mcp = MCPServer("bench")


class Rect(BaseModel):
    width: float
    height: float


@mcp.tool()
def add(a: int, b: int) -> int:
    return a + b


@mcp.tool()
async def add_async(a: int, b: int) -> int:
    return a + b


@mcp.tool()
def area(shape: Rect) -> float:
    return shape.width * shape.height


@mcp.resource("bench://status", mime_type="text/plain")
def status() -> str:
    return "ok"


mode = os.environ.get("BENCH_SDK_MODE", "default")
app = mcp.streamable_http_app(json_response=mode in ("json", "stateless-json"), stateless_http=mode == "stateless-json")
