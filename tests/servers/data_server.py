"""A server for the data-layer tests: tools that hold, fail inside and cancel database transactions."""

from __future__ import annotations

import time

from sqlalchemy import text

from bosun import Context, Server, ToolError

server = Server("datatest", "1.0.0", database=True)


@server.startup
async def create_table() -> None:
    async with server.state.database.session() as session:
        await session.execute(text("create table if not exists bosun_test_items (id serial primary key, label text)"))


@server.tool()
async def hold(seconds: float, ctx: Context) -> str:
    """Keep a pooled connection busy inside a transaction."""
    async with ctx.db() as session:
        await session.execute(text("insert into bosun_test_items (label) values ('held')"))
        await session.execute(text("select pg_sleep(:s)"), {"s": seconds})
    return "held"


@server.tool()
async def write_then_fail(ctx: Context) -> str:
    async with ctx.db() as session:
        await session.execute(text("insert into bosun_test_items (label) values ('doomed')"))
        raise ToolError("failed after writing")


@server.tool()
async def count(label: str, ctx: Context) -> int:
    async with ctx.db() as session:
        return int((await session.execute(text("select count(*) from bosun_test_items where label = :l"), {"l": label})).scalar_one())


@server.tool(cache_ttl=60, cache_tags=["clock"])
def clock() -> float:
    return time.time()


@server.tool(invalidates=["clock"])
def tick() -> str:
    return "ticked"
