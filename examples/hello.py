"""A small server showing each kind of thing Bosun serves. Run: bosun serve examples/hello.py"""

from typing import Annotated

from pydantic import BaseModel

from bosun import Context, Server

server = Server("hello", "1.0.0", instructions="A demonstration server: arithmetic, a greeting and a review prompt.")


@server.tool()
def add(a: Annotated[int, "first addend"], b: Annotated[int, "second addend"]) -> int:
    """Add two integers."""
    return a + b


class Confirmation(BaseModel):
    confirm: bool


@server.tool()
async def confirm_action(action: str, ctx: Context) -> str:
    """Ask the user to confirm an action before doing it."""
    answer = await ctx.elicit(f"Really {action}?", Confirmation)
    if answer.action == "accept" and answer.data is not None and answer.data.confirm:
        return f"confirmed {action}"
    return f"cancelled {action}"


@server.tool()
async def count(to: int, ctx: Context) -> str:
    """Count to `to`, reporting progress on the way."""
    for step in range(1, to + 1):
        await ctx.report_progress(step, to, f"step {step}")
    return f"counted to {to}"


@server.resource("bosun://readme", mime_type="text/markdown")
def readme() -> str:
    """What this server is."""
    return "# hello\nA demonstration Bosun server."


@server.resource("greeting://{name}")
def greeting(name: str) -> str:
    """A greeting for anyone."""
    return f"Hello, {name}!"


@server.prompt()
def review(code: Annotated[str, "the code to review"]) -> str:
    """Ask for a code review."""
    return f"Please review this code:\n\n{code}"


if __name__ == "__main__":
    server.run()  # python examples/hello.py [--transport stdio] [--port 8000]
