"""The server tests/test_tasks_replicas*.py run as three replicas: task tools that leave traces a test can read.

A run happens in whichever replica's docket worker took it, out of the test's reach, so each tool appends
lines to `$TASKS_MARKS/<label>` (the directory the test gives every replica): `start <pid>` when a run
begins (the pid names the replica to kill), `cleanup <pid>` when the run is cancelled (`CancelledError`,
a cancel or a shutdown handing it back), `done <pid>` when it ends on its own. One short line per append,
so the lines of two replicas never mix.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from bosun import Context, Server

server = Server("tasks-replicas", "1.0.0")
MARKS = Path(os.environ.get("TASKS_MARKS", "."))


def mark(label: str, event: str) -> None:
    with (MARKS / label).open("a") as file:
        file.write(f"{event} {os.getpid()} {time.time():.3f}\n")


@server.tool(task="optional")
async def slow(label: str, seconds: float, ctx: Context) -> str:
    """Works for `seconds` in steps of 0.1 s, saying how far it has got; cleans up when cancelled."""
    mark(label, "start")
    try:
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            await ctx.report_status(f"{label}: {time.monotonic() - began:.1f} of {seconds} s")
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        mark(label, "cleanup")
        raise
    mark(label, "done")
    return f"{label} done"


@server.tool(task="optional", safe_to_repeat=False)
async def once(label: str, seconds: float) -> str:
    """Must never run twice (say, it sends an email): its replica dying mid-run fails the task."""
    mark(label, "start")
    await asyncio.sleep(seconds)
    mark(label, "done")
    return f"{label} sent once"


@server.tool(task="optional")
def crunch(label: str, seconds: float, ctx: Context) -> str:
    """A plain `def` tool, in a worker thread: it stops early when `ctx.task_cancelled` turns True."""
    mark(label, "start")
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if ctx.task_cancelled:
            mark(label, "cleanup")
            return f"{label} stopped"
        time.sleep(0.05)
    mark(label, "done")
    return f"{label} crunched"
