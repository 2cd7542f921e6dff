"""A server whose functions fail in every way a function can, for tests/test_errors.py.

The secrets below stand for what real failures carry: SQL with its parameters, a
password in a connection string. None of it may reach a client.
"""

from __future__ import annotations

from sqlalchemy import text

from bosun import Context, PromptError, ResourceError, ResourceNotFound, Server, ToolError

server = Server("faulty", "1.0.0", database=True)
SECRET = "hunter2-s3cr3t"
ITEMS = {"1": "one"}


@server.tool()
def crash() -> str:
    raise RuntimeError(f"connect failed: postgresql://app:{SECRET}@db/prod")


@server.tool()
async def async_crash() -> str:
    raise KeyError(SECRET)


@server.tool()
async def bad_query(ctx: Context) -> int:
    """A real SQL error: SQLAlchemy's message holds the statement and its parameters."""
    async with ctx.db() as session:
        return int((await session.execute(text("select count(*) from no_such_table where token = :t"), {"t": SECRET})).scalar_one())


@server.tool()
def refuse(reason: str) -> str:
    raise ToolError(f"refused: {reason}")


@server.tool(strict_arguments=False)
def lenient(a: int) -> int:
    return a


@server.tool()
def add(a: int, b: int) -> int:
    return a + b


@server.resource("items://{item_id}")
def item(item_id: str) -> str:
    if item_id == "crash":
        raise ValueError(f"password={SECRET}")
    if item_id == "locked":
        raise ResourceError("item is locked; try again after the nightly export")
    if item_id not in ITEMS:
        raise ResourceNotFound()
    return ITEMS[item_id]


@server.prompt()
def greet(name: str) -> str:
    if name == "crash":
        raise ZeroDivisionError(SECRET)
    if name == "nobody":
        raise PromptError("there is no one by that name")
    return f"Hello, {name}"


@server.completion(prompt="greet", argument="name")
def names(value: str, arguments: dict[str, str]) -> list[str]:
    if value == "crash":
        raise LookupError(SECRET)
    return [name for name in ("ada", "alan") if name.startswith(value)]
