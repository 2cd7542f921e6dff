"""The server the metrics-pipeline tests scrape (test_prometheus_pipeline.py, test_metrics_contract.py).

One of each thing a dashboard panel or an alert reads: a plain tool, a cached one (cache hits and misses), one that
goes to PostgreSQL (the pool gauges, checkout waits, and a 503 when the database is stopped), one that fails on
request (ToolError, or any other exception: both end as an `isError` result, outcome `error`), one that asks for
input (outcome `input_required`; `exception` when the client cannot answer), one with a rate limit, a durable task
tool (so the `bosun_tasks_*` families the dashboard's Tasks row reads are exported), a resource and a prompt.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import text

from bosun import Context, Server, ToolError

server = Server("metrics", "1.0.0", database=True)
# A bridged child too, so its metrics are in the contract: a plain stdio server whose tools are `whoami` and `wait`
# (its `echo` is hidden by the server's own).
server.bridge([sys.executable, str(Path(__file__).with_name("servers") / "misbehaving_child.py"), "normal"],
              name="child", warm=1)


class Confirmation(BaseModel):
    confirm: bool


@server.startup
async def create_table() -> None:
    async with server.state.database.session() as session:
        # Two replicas start at once on one database, and two concurrent CREATE TABLE IF NOT EXISTS can collide in
        # PostgreSQL's catalog (a unique violation on pg_type): the loser's start-up failed, and its replica exited.
        await session.execute(text("select pg_advisory_xact_lock(27001)"))
        await session.execute(text("create table if not exists bosun_metrics_items (id serial primary key, label text)"))


@server.tool()
async def echo(text: str) -> str:
    return text


@server.tool(cache_ttl=60, cache_tags=["clock"])
def clock() -> float:
    """Cached: the first call a miss, the rest hits."""
    return time.time()


@server.tool()
async def count(label: str, ctx: Context) -> int:
    """Reads PostgreSQL: answers 503 while the database is down."""
    async with ctx.db() as session:
        query = text("select count(*) from bosun_metrics_items where label = :l")
        return int((await session.execute(query, {"l": label})).scalar_one())


@server.tool()
def flaky(how: str) -> str:
    """Fails as told: `error` raises ToolError, `exception` an unexpected error (logged with its traceback)."""
    if how == "error":
        raise ToolError("failed as asked")
    if how == "exception":
        raise RuntimeError("failed as asked")
    return "fine"


@server.tool()
async def confirm(action: str, ctx: Context) -> str:
    """Asks the client first: on 2026-07-28 a call without the answer ends as `input_required`."""
    answer = await ctx.elicit(f"Really {action}?", Confirmation)
    return "done" if answer.data and answer.data.confirm else "cancelled"


@server.tool(rate_limit="1/minute")
def scarce() -> str:
    """Once a minute per caller: the second call is refused (429, `rate_limited`)."""
    return "granted"


async def report(ctx: Context) -> str:
    """A task for clients that declare the tasks extension (docs/tasks.md); registering it exports the task metrics."""
    await ctx.report_status("writing")
    return "written"


# One process only, as the task metrics are: with `--workers N` (the CLI sets PROMETHEUS_MULTIPROC_DIR) and no Redis,
# a server with task tools refuses to start, since each worker would keep its own tasks.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    server.tool(task="optional")(report)


@server.resource("bosun://motd")
def motd() -> str:
    return "hello"


@server.prompt()
def review(code: str) -> str:
    """Ask for a review."""
    return f"Review:\n{code}"
