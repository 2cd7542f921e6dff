"""The server the end-to-end tests drive: one of each feature, with behaviour a test can check."""

from __future__ import annotations

import asyncio
import threading
import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from bosun import Audio, Context, EmbeddedResource, Image, ResourceLink, Server, ToolError, assistant, inputs, user
from bosun.protocol.liveness import watch_client

server = Server("everything", "1.2.3", instructions="Test server.")

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class Color(StrEnum):
    red = "red"
    green = "green"


class Point(BaseModel):
    x: float
    y: float


class Weather(BaseModel):
    city: str
    celsius: float


class Confirmation(BaseModel):
    confirm: bool


@server.tool()
def add(a: Annotated[int, "first addend"], b: Annotated[int, "second addend"]) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def echo(text: str) -> str:
    return text


@server.tool()
def describe(
    name: Annotated[str, Field(description="who", min_length=1)],
    color: Color = Color.red,
    mode: Literal["short", "long"] = "short",
    nickname: str | None = None,
    point: Point | None = None,
) -> dict[str, object]:
    """Exercise schema generation: enums, literals, optionals, defaults, nested models."""
    return {"name": name, "color": color.value, "mode": mode, "nickname": nickname, "point": point.model_dump() if point else None}


@server.tool()
def weather(city: str) -> Weather:
    return Weather(city=city, celsius=21.5)


@server.tool()
def which_thread() -> str:
    """Sync tools run off the event loop; this says where."""
    return threading.current_thread().name


@server.tool()
def fail(message: str) -> str:
    raise ToolError(message)


@server.tool()
def crash() -> str:
    raise RuntimeError("boom")


@server.tool()
def media() -> list[object]:
    return [
        "some text",
        Image(PNG, "image/png"),
        Audio(b"RIFF0000WAVE", "audio/wav"),
        EmbeddedResource("bosun://readme", text="embedded", mime_type="text/plain"),
        ResourceLink("greeting://World", "greeting"),
    ]


@server.tool()
async def nap(seconds: float) -> str:
    """Take a while (for cancellation tests)."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def block(seconds: float) -> str:
    """Block its thread (a plain `def` doing slow I/O): must not hold up anything else."""
    time.sleep(seconds)
    return f"blocked {seconds}"


@server.tool()
async def count(to: int, ctx: Context) -> str:
    for step in range(1, to + 1):
        await ctx.report_progress(step, to, f"step {step}")
    return f"counted to {to}"


@server.tool()
async def long_count(to: int, ctx: Context) -> str:
    """Ends its response stream at once, then counts slowly: the client resumes with Last-Event-ID."""
    closed = await ctx.close_stream()
    watch_client()  # as a database session does: must not cancel a call whose response ended on purpose
    for step in range(1, to + 1):
        await asyncio.sleep(0.1)
        await ctx.report_progress(step, to, f"step {step}")
    return f"counted to {to} ({'resumed' if closed else 'one stream'})"


@server.tool()
async def chatty(ctx: Context) -> str:
    await ctx.debug("a debug line")
    await ctx.warning("a warning line")
    return "done"


@server.tool()
async def confirm_action(action: str, ctx: Context) -> str:
    """Ask the user to confirm, then act."""
    answer = await ctx.elicit(f"Really {action}?", Confirmation)
    if answer.action == "accept" and answer.data is not None and answer.data.confirm:
        return f"confirmed {action}"
    return f"cancelled {action}"


@server.tool()
async def two_questions(ctx: Context) -> str:
    first = await ctx.elicit("First?", {"type": "object", "properties": {"a": {"type": "string"}}})
    second = await ctx.elicit("Second?", {"type": "object", "properties": {"b": {"type": "string"}}})
    return f"{(first.content or {}).get('a')}+{(second.content or {}).get('b')}"


@server.tool()
async def ask_model(question: str, ctx: Context) -> str:
    reply = await ctx.sample(question, max_tokens=50)
    return str(reply.get("content", {}).get("text"))


@server.tool()
async def roots(ctx: Context) -> list[str]:
    return [root["uri"] for root in await ctx.list_roots()]


@server.tool()
def regional(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})], query: str) -> str:
    return f"{region}:{query}"


@server.tool()
def touch(uri: str) -> str:
    """Mark a resource updated (tests subscriptions)."""
    server.notify_resource_updated(uri)
    return "ok"


@server.tool()
def tools_changed() -> str:
    server.notify_tools_changed()
    return "ok"


@server.resource("bosun://readme", mime_type="text/markdown")
def readme() -> str:
    return "# everything"


@server.resource("bosun://logo", mime_type="image/png")
def logo() -> bytes:
    return PNG


@server.resource("greeting://{name}")
def greeting(name: str) -> str:
    return f"Hello, {name}!"


@server.resource("file:///{+path}")
def file(path: str) -> str:
    return f"contents of {path}"


@server.prompt()
def review(code: Annotated[str, "the code to review"], language: str = "python") -> str:
    """Ask for a code review."""
    return f"Review this {language}:\n{code}"


@server.prompt()
def dialogue(topic: str) -> list[dict[str, object]]:
    return [user(f"Tell me about {topic}"), assistant("Gladly."), user(Image(PNG))]


@server.completion(prompt="review", argument="language")
def languages(value: str, context: dict[str, str]) -> list[str]:
    return [name for name in ("python", "perl", "php", "rust") if name.startswith(value)]


@server.completion(resource="greeting://{name}", argument="name")
def names(value: str, context: dict[str, str]) -> list[str]:
    return [name for name in ("World", "Wanda") if name.startswith(value)]


@server.tool()
async def survey(ctx: Context) -> str:
    """Ask two things in one round."""
    answers = await ctx.ask_many({
        "login": inputs.elicitation("Login?", {"type": "object", "properties": {"name": {"type": "string"}}}),
        "capital": inputs.sampling("Capital of France?", max_tokens=10),
    })
    return f"{answers['login']['content']['name']} / {answers['capital']['content']['text']}"
