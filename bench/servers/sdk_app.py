"""The official SDK (mcp 2.3.0, MCPServer) serving the same tool, in the mode BENCH_SDK_MODE names.

default:        streamable_http_app() as documented (sessions; also answers 2026-07-28 requests statelessly)
json:           json_response=True (sessions, JSON responses instead of SSE)
stateless-json: stateless_http=True, json_response=True (no sessions)
"""

import logging
import os

from mcp.server.mcpserver import MCPServer

logging.disable(logging.INFO)  # the SDK logs a line per request at INFO; not what is being measured
mcp = MCPServer("bench")


@mcp.tool()
async def echo(text: str) -> str:
    return text


mode = os.environ.get("BENCH_SDK_MODE", "default")
app = mcp.streamable_http_app(json_response=mode in ("json", "stateless-json"), stateless_http=mode == "stateless-json")
