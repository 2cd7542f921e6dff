"""A server whose every call uses what replicas share in Redis: its session (2025), a resumable stream, the change bus,
the rate limit (BOSUN_RATE_LIMIT) and the cache. The Redis topology tests drive it through a failover."""

from __future__ import annotations

import asyncio
import time

from bosun import Context, Server

server = Server("replicated", "1.0.0")


@server.tool()
def add(a: int, b: int) -> int:
    return a + b


@server.tool(cache_ttl=60, cache_tags=["clock"])
def clock() -> float:
    """Cached: the same answer until `tick` invalidates it, on every replica."""
    return time.time()


@server.tool(invalidates=["clock"])
def tick() -> str:
    return "ticked"


@server.tool()
def touch(uri: str) -> str:
    """A change every replica's subscribed streams must hear (the change bus)."""
    server.notify_resource_updated(uri)
    return "touched"


@server.resource("greeting://{name}")
def greeting(name: str) -> str:
    return f"Hello, {name}!"


@server.tool()
async def long_count(to: int, ctx: Context) -> str:
    """Ends its response stream at once, then counts: the client resumes it from the event store."""
    closed = await ctx.close_stream()
    for step in range(1, to + 1):
        await asyncio.sleep(0.05)
        await ctx.report_progress(step, to, f"step {step}")
    return f"counted to {to} ({'resumed' if closed else 'one stream'})"


@server.tool(rate_limit="5/minute")
def scarce() -> str:
    """Five a minute per caller across every replica: a limit only Redis can enforce."""
    return "granted"
