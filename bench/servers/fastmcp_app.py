"""FastMCP 4.1.6 serving the same tool with its default HTTP app."""

import logging

from fastmcp import FastMCP

logging.disable(logging.INFO)
mcp = FastMCP("bench")


@mcp.tool
async def echo(text: str) -> str:
    return text


app = mcp.http_app()
