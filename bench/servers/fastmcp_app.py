"""FastMCP 4.1.6 serving the same four operations with its default HTTP app.

The operations: `add` (a plain `def`), `add_async` (an `async def`), `area` (a pydantic model
argument) and the resource `bench://status`, written as FastMCP's documentation writes them.
"""

import logging

from fastmcp import FastMCP
from pydantic import BaseModel

logging.disable(logging.INFO)
mcp = FastMCP("bench")


class Rect(BaseModel):
    width: float
    height: float


@mcp.tool
def add(a: int, b: int) -> int:
    return a + b


@mcp.tool
async def add_async(a: int, b: int) -> int:
    return a + b


@mcp.tool
def area(shape: Rect) -> float:
    return shape.width * shape.height


@mcp.resource("bench://status", mime_type="text/plain")
def status() -> str:
    return "ok"


app = mcp.http_app()
