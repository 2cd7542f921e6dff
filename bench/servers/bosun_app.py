"""Bosun serving the benchmark's four operations, written as Bosun's users write them; both protocol eras.

The operations (the same in every server under bench/servers): `add` (a plain `def`), `add_async`
(an `async def`), `area` (a pydantic model argument) and the resource `bench://status`.

BENCH_LOGGING=json configures logging as `bosun serve` does (JSON lines on stderr), so rows that
log per call (the audit trail with authentication on) pay for it as a real deployment would.
"""

import os

from pydantic import BaseModel

from bosun import Server
from bosun.ops.logs import configure_logging

if os.environ.get("BENCH_LOGGING") == "json":
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "json")

server = Server("bench")


class Rect(BaseModel):
    width: float
    height: float


@server.tool()
def add(a: int, b: int) -> int:
    return a + b


@server.tool()
async def add_async(a: int, b: int) -> int:
    return a + b


@server.tool()
def area(shape: Rect) -> float:
    return shape.width * shape.height


@server.resource("bench://status", mime_type="text/plain")
def status() -> str:
    return "ok"


app = server.asgi_app()
