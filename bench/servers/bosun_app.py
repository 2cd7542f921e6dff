"""Bosun serving the benchmark's one-line tool; both protocol eras from the same app.

BENCH_LOGGING=json configures logging as `bosun serve` does (JSON lines on stderr), so rows that
log per call (the audit trail with authentication on) pay for it as a real deployment would.
"""

import os

from bosun import Server
from bosun.ops.logs import configure_logging

if os.environ.get("BENCH_LOGGING") == "json":
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "json")

server = Server("bench")


@server.tool()
async def echo(text: str) -> str:
    return text


app = server.asgi_app()
