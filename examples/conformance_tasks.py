"""The tools the official conformance suite's `tasks-*` scenarios call (SEP-2663), added to the conformance server.

Each is an ordinary Bosun tool with `task=`: the suite drives them as tasks over 2026-07-28, and they show the
authoring model (docs/tasks.md): `ctx.report_status`, `ctx.elicit` inside a task, `input_first` with `ctx.detach()`.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from bosun import Context, McpError, Server, ToolError


class Confirm(BaseModel):
    confirm: bool


class Partial(BaseModel):
    name: str = ""
    confirm: bool = False


class Name(BaseModel):
    name: str


def add_task_tools(server: Server) -> None:
    @server.tool()
    def greet(name: str) -> str:
        """Greets by name; never a task"""
        return f"Hello, {name}!"

    @server.tool(task="optional")
    async def slow_compute(seconds: int, label: str, ctx: Context) -> str:
        """Works for `seconds`, saying how far it has got; cancellable at any point"""
        for done in range(seconds):
            await ctx.report_status(f"{label}: {done} of {seconds} seconds")
            await asyncio.sleep(1)
        return f"{label}: done after {seconds}s"

    @server.tool(task="required")
    async def failing_job() -> str:
        """Ends, after a second, with a tool error (a completed task whose result has isError)"""
        await asyncio.sleep(1)
        raise ToolError("The job failed: the input was rejected")

    @server.tool(task="optional")
    async def protocol_error_job() -> str:
        """Ends with a JSON-RPC error (a failed task)"""
        await asyncio.sleep(0.2)
        raise McpError(-32603, "The job could not be carried out")

    @server.tool(task="optional")
    async def confirm_delete(filename: str, ctx: Context) -> str:
        """Asks the user to confirm, from inside the task, then deletes (or keeps) the file"""
        answer = await ctx.elicit(f"Delete {filename}?", Confirm)
        if answer.action == "accept" and answer.data is not None and answer.data.confirm:
            return f"Deleted {filename}"
        return f"Kept {filename}"

    @server.tool(task="optional")
    async def multi_input(ctx: Context) -> str:
        """Asks two questions at once, from inside the task"""
        schema = Partial.model_json_schema()
        answers = await ctx.ask_many({
            "first": {"method": "elicitation/create", "params": {"message": "First answer?", "requestedSchema": schema}},
            "second": {"method": "elicitation/create", "params": {"message": "Second answer?", "requestedSchema": schema}},
        })
        names = [str((answers[key].get("content") or {}).get("name", "?")) for key in ("first", "second")]
        return f"Got {names[0]} and {names[1]}"

    @server.tool(task="required", input_first=True)
    async def test_tool_with_task(ctx: Context) -> str:
        """Asks the user's name on the request (multi round-trip), then runs as a task"""
        answer = await ctx.elicit("What is your name?", Name)
        name = answer.data.name if answer.data is not None else "stranger"
        await ctx.detach()
        await asyncio.sleep(0.2)
        return f"Hello, {name}! (from a task)"
