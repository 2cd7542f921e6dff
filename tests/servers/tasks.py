"""The server tests/test_tasks*.py drive: task tools whose behaviour a test can see from outside.

Tools that must show what happened inside a run (a cancel caught, a loop stopped) write it to a file the test
names in the arguments, since the run happens in the server process, out of the test's reach.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from pydantic import BaseModel

from bosun import Context, Server, ToolError

server = Server("tasks-under-test", "1.0.0")


class Confirm(BaseModel):
    confirm: bool


def _write(path: str, text: str) -> None:
    with Path(path).open("a") as file:
        file.write(text + "\n")


@server.tool(task="optional")
async def slow(seconds: float, label: str = "slow") -> str:
    """Waits `seconds`, then answers: a task that ends on its own."""
    await asyncio.sleep(seconds)
    return f"{label} done"


@server.tool(task="optional")
async def counting(ctx: Context) -> str:
    """Says how far it has got, then keeps working until cancelled."""
    await ctx.report_status("3 of 10")
    await asyncio.sleep(60)
    return "all 10"


@server.tool(task="optional")
async def careful(marker: str) -> str:
    """An async tool that cleans up when it is cancelled, and writes that down."""
    _write(marker, "started")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        _write(marker, "cancelled, cleaned up")
        raise
    return "never cancelled"


@server.tool(task="optional")
def plain_loop(marker: str, ctx: Context) -> str:
    """A plain `def` tool (a worker thread, which no CancelledError reaches): it checks `ctx.task_cancelled`."""
    _write(marker, "started")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ctx.task_cancelled:
            _write(marker, "stopped")
            return "stopped"
        time.sleep(0.05)
    _write(marker, "ran out")
    return "ran out"


@server.tool(task="optional")
async def confirm_with(label: str, count: int, ctx: Context) -> str:
    """Asks for a confirmation inside the task, then answers with the arguments it sees on that (second) run."""
    answer = await ctx.elicit(f"Go ahead with {label}?", Confirm)
    confirmed = answer.action == "accept" and answer.data is not None and answer.data.confirm
    return json.dumps({"label": label, "count": count, "confirmed": confirmed}, sort_keys=True)


@server.tool(task="optional")
async def double(x: int) -> int:
    """Quick: what a client without tasks gets at once."""
    return x * 2


@server.tool(task="optional")
async def broken() -> str:
    """A tool error: `completed` with isError in 2026-07-28, `failed` in 2025-11-25."""
    raise ToolError("broken on purpose")


@server.tool(task="required")
async def only_as_task(seconds: float = 0.1) -> str:
    """May run only as a task."""
    await asyncio.sleep(seconds)
    return "done as a task"
