"""The README's first example, as written there: what a new user's server costs to start and to hold in memory.

Serves the `def` workload (`add`); the bench measures its cold start and idle RSS beside the full bench server's.
"""

from typing import Annotated

from pydantic import BaseModel

from bosun import Context, Server

server = Server("hello", "1.0.0")


@server.tool()
def add(a: Annotated[int, "first addend"], b: int) -> int:
    """Add two integers."""
    return a + b


class Confirmation(BaseModel):
    confirm: bool


@server.tool()
async def deploy(service: str, ctx: Context) -> str:
    answer = await ctx.elicit(f"Deploy {service}?", Confirmation)  # works in both protocol eras
    return "deployed" if answer.data and answer.data.confirm else "cancelled"


@server.resource("greeting://{name}")
def greeting(name: str) -> str:
    return f"Hello, {name}!"
