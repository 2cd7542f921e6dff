"""A server for the operations tests: controllable readiness checks, a warm-up, a loop-blocking tool."""

from __future__ import annotations

import asyncio
import logging
import os
import time

from bosun import Server

server = Server("ops", "9.9.9")
state = {"database": True, "cache": True, "runs": 0}
log = logging.getLogger("app")


@server.readiness_check("database")
async def database() -> None:
    state["runs"] += 1
    if not state["database"]:
        raise ConnectionError("database unreachable")


@server.readiness_check("cache", critical=False)
async def cache() -> bool:
    return bool(state["cache"])


@server.readiness_check("slow", critical=False, timeout=0.2)
async def slow() -> None:
    await asyncio.sleep(float(os.environ.get("TEST_SLOW_CHECK", "0")))


@server.warmup
async def warm() -> None:
    await asyncio.sleep(float(os.environ.get("TEST_WARMUP_SECONDS", "0")))


@server.tool()
def set_check(name: str, ok: bool) -> str:
    state[name] = ok
    return "ok"


@server.tool()
def check_runs() -> int:
    return int(state["runs"])


@server.tool()
async def block(seconds: float) -> str:
    """Blocks the event loop (a bug a liveness probe must catch)."""
    time.sleep(seconds)
    return "unblocked"


@server.tool()
async def wait(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "waited"


@server.tool()
def leak() -> str:
    log.warning("calling upstream with Authorization: Bearer abcdefghijklmnop123 and password=hunter2")
    return "logged"


@server.tool()
def echo(text: str) -> str:
    return text
