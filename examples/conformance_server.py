"""The MCP conformance suite's test server, written with Bosun.

Exposes every tool, resource and prompt the official suite
(`@modelcontextprotocol/conformance`) drives, for both protocol eras.
Run: `bosun serve examples/conformance_server.py --port 8765`; `scripts/conformance.sh` does it for you.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Annotated, Any

from conformance_tasks import add_task_tools
from pydantic import BaseModel, Field

from bosun import Audio, Context, EmbeddedResource, Image, InputRequired, Server, inputs, user

IMAGE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
AUDIO = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
NAME_FORM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
CONFIRM_FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}

server = Server("bosun-conformance-server", "0.1.0")
server.skills(Path(__file__).parent / "skills")  # SEP-2640; the first skill by URI must have a subdirectory (skills-directory)
add_task_tools(server)  # SEP-2663 tasks: the tasks-* scenarios' tools


# Content of every kind.
@server.tool()
def test_simple_text() -> str:
    """Tests simple text content response"""
    return "This is a simple text response for testing."


@server.tool()
def test_image_content() -> Image:
    """Tests image content response"""
    return Image(IMAGE, "image/png")


@server.tool()
def test_audio_content() -> Audio:
    """Tests audio content response"""
    return Audio(AUDIO, "audio/wav")


@server.tool()
def test_embedded_resource() -> EmbeddedResource:
    """Tests embedded resource content response"""
    return EmbeddedResource("test://embedded-resource", text="This is an embedded resource content.", mime_type="text/plain")


@server.tool()
def test_multiple_content_types() -> list[Any]:
    """Tests response with multiple content types (text, image, resource)"""
    return [
        "Multiple content types test:",
        Image(IMAGE, "image/png"),
        EmbeddedResource("test://mixed-content-resource", text='{"test": "data", "value": 123}', mime_type="application/json"),
    ]


@server.tool()
def test_error_handling() -> str:
    """Tests error response handling"""
    raise RuntimeError("This tool intentionally returns an error for testing")


# Notifications during a call.
@server.tool()
async def test_tool_with_logging(ctx: Context) -> str:
    """Tests tool that emits log messages during execution"""
    for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.info(message)
        await asyncio.sleep(0.05)
    return "Tool with logging executed successfully"


@server.tool()
async def test_logging_tool(ctx: Context) -> str:
    """Emits log messages; only requests that set a log level receive them"""
    await ctx.info("logging tool message")
    await ctx.warning("logging tool warning")
    return "logged"


@server.tool()
async def test_tool_with_progress(ctx: Context) -> str:
    """Tests tool that reports progress notifications"""
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100, f"Completed step {step} of 100")
        await asyncio.sleep(0.05)
    return str(ctx.meta.get("progressToken", 0))


# Asking the client (either era).
@server.tool()
async def test_sampling(prompt: str, ctx: Context) -> str:
    """Tests server-initiated sampling (LLM completion request)"""
    result = await ctx.sample(prompt, max_tokens=100)
    content = result.get("content")
    text = content.get("text") if isinstance(content, dict) and content.get("type") == "text" else "No response"
    return f"LLM response: {text}"


class UserResponse(BaseModel):
    response: str = Field(description="User's response")


@server.tool()
async def test_elicitation(message: str, ctx: Context) -> str:
    """Tests server-initiated elicitation (user input request)"""
    answer = await ctx.elicit(message, UserResponse)
    content = answer.data.model_dump_json() if answer.data is not None else "{}"
    return f"User response: action={answer.action}, content={content}"


class Defaults(BaseModel):
    name: str = Field(default="John Doe", description="User name")
    age: int = Field(default=30, description="User age")
    score: float = Field(default=95.5, description="User score")
    status: str = Field(default="active", description="User status", json_schema_extra={"enum": ["active", "inactive", "pending"]})
    verified: bool = Field(default=True, description="Verification status")


@server.tool()
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Tests elicitation with default values for all primitive types (SEP-1034)"""
    answer = await ctx.elicit("Please provide user information", Defaults)
    content = answer.data.model_dump_json() if answer.data is not None else "{}"
    return f"Elicitation result: action={answer.action}, content={content}"


ENUM_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "description": "Simple enum without titles", "enum": ["active", "inactive", "pending"]},
        "titledSingle": {"type": "string", "description": "Enum with titled options (oneOf)", "oneOf": [
            {"const": "low", "title": "Low Priority"}, {"const": "medium", "title": "Medium Priority"},
            {"const": "high", "title": "High Priority"}]},
        "untitledMulti": {"type": "array", "description": "Multi-select without titles",
                          "items": {"type": "string", "enum": ["read", "write", "execute"]}},
        "titledMulti": {"type": "array", "description": "Multi-select with titled options", "items": {"anyOf": [
            {"const": "feature", "title": "New Feature"}, {"const": "bug", "title": "Bug Fix"},
            {"const": "docs", "title": "Documentation"}]}},
        "legacyEnum": {"type": "string", "description": "Legacy enum with enumNames", "enum": ["small", "medium", "large"],
                       "enumNames": ["Small Size", "Medium Size", "Large Size"]},
    },
    "required": ["untitledSingle", "titledSingle", "untitledMulti", "titledMulti", "legacyEnum"],
}


@server.tool()
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Tests elicitation with enum schema variations per SEP-1330"""
    answer = await ctx.elicit("Please select values using different enum schema types", ENUM_FORM)
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content or {})}"


@server.tool()
async def test_streaming_elicitation(ctx: Context) -> str:
    """Asks for input mid-call: an InputRequiredResult on 2026-07-28, a request on the stream in a session"""
    answer = await ctx.elicit("What is your name?", NAME_FORM)
    return f"Hello, {(answer.content or {}).get('name', 'stranger')}!"


@server.tool()
async def test_reconnection(ctx: Context) -> str:
    """Ends this call's SSE stream mid-call; the client resumes with GET and Last-Event-ID (2025-11-25 polling)"""
    await ctx.close_stream()
    await asyncio.sleep(0.1)
    return "Reconnection test completed"


@server.tool()
def test_missing_capability(ctx: Context) -> str:
    """Needs the client's sampling capability; without it the call is a -32021 error"""
    if "sampling" not in ctx.client_capabilities:
        from bosun.protocol.errors import missing_capability

        raise missing_capability("sampling")
    return "Client declared sampling capability; proceeding."


@server.tool()
def test_x_mcp_header(region: Annotated[str, Field(description="Mirrored into the Mcp-Param-Region header",
                                                   json_schema_extra={"x-mcp-header": "Region"})] = "<none>") -> str:
    """Tests Mcp-Param-* header validation"""
    return f"region={region}"


# Multi round-trip requests, written against the low-level API.
@server.tool()
def test_input_required_result_elicitation(ctx: Context) -> str:
    """Tests InputRequiredResult with a single elicitation request"""
    answer = (ctx.input_responses or {}).get("user_name")
    if answer is None:
        raise InputRequired({"user_name": inputs.elicitation("What is your name?", NAME_FORM)})
    return f"Hello, {(answer.get('content') or {}).get('name', 'stranger')}!"


@server.tool()
def test_input_required_result_sampling(ctx: Context) -> str:
    """Tests InputRequiredResult with a single sampling request"""
    answer = (ctx.input_responses or {}).get("capital_question")
    if answer is None:
        raise InputRequired({"capital_question": inputs.sampling("What is the capital of France?", max_tokens=100)})
    content = answer.get("content") or {}
    return f"Model said: {content.get('text', '?')}"


@server.tool()
def test_input_required_result_list_roots(ctx: Context) -> str:
    """Tests InputRequiredResult with a single roots/list request"""
    answer = (ctx.input_responses or {}).get("client_roots")
    if answer is None:
        raise InputRequired({"client_roots": inputs.roots()})
    return f"Client exposed {len(answer.get('roots') or [])} root(s)."


@server.tool()
def test_input_required_result_request_state(ctx: Context) -> str:
    """Tests requestState round-tripping in the InputRequiredResult flow"""
    if "confirm" in (ctx.input_responses or {}) and ctx.request_state == "request-state-nonce":
        return "state-ok: confirmation received"
    raise InputRequired({"confirm": inputs.elicitation("Please confirm", CONFIRM_FORM)}, state="request-state-nonce")


@server.tool()
def test_input_required_result_multiple_inputs(ctx: Context) -> str:
    """Tests InputRequiredResult carrying elicitation, sampling and roots requests together"""
    if {"user_name", "greeting", "client_roots"} <= (ctx.input_responses or {}).keys():
        return "All inputs received."
    raise InputRequired({
        "user_name": inputs.elicitation("What is your name?", NAME_FORM),
        "greeting": inputs.sampling("Generate a greeting", max_tokens=50),
        "client_roots": inputs.roots(),
    }, state="multiple-inputs")


@server.tool()
def test_input_required_result_multi_round(ctx: Context) -> str:
    """Tests a three-round InputRequiredResult flow with evolving requestState"""
    state = json.loads(ctx.request_state) if ctx.request_state else {"round": 0}
    responses = ctx.input_responses or {}
    if state["round"] == 1 and "step1" in responses:
        name = (responses["step1"].get("content") or {}).get("name")
        color_form = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
        raise InputRequired({"step2": inputs.elicitation("Step 2: What is your favorite color?", color_form)},
                            state=json.dumps({"round": 2, "name": name}))
    if state["round"] == 2 and "step2" in responses:
        return f"{state.get('name')} likes {(responses['step2'].get('content') or {}).get('color')}."
    raise InputRequired({"step1": inputs.elicitation("Step 1: What is your name?", NAME_FORM)}, state=json.dumps({"round": 1}))


@server.tool()
def test_input_required_result_tampered_state(ctx: Context) -> str:
    """Tests that a tampered requestState is rejected (Bosun seals it; the tool sees plain text)"""
    if ctx.request_state is None:
        raise InputRequired({"confirm": inputs.elicitation("Please confirm", CONFIRM_FORM)}, state="round-1")
    return f"state-ok: {ctx.request_state}"


@server.tool()
def test_input_required_result_capabilities(ctx: Context) -> str:
    """Tests that inputRequests only include methods the client declared support for"""
    if ctx.input_responses:
        return "capability-gated inputs received"
    requests: dict[str, dict[str, Any]] = {}
    if "sampling" in ctx.client_capabilities:
        requests["sample"] = inputs.sampling("Say hello", max_tokens=50)
    if "elicitation" in ctx.client_capabilities:
        requests["ask"] = inputs.elicitation("What is your name?", NAME_FORM)
    raise InputRequired(requests, state="capability-gated")


# Schema and list changes.
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                          "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@server.tool(name="json_schema_2020_12_tool", input_schema=JSON_SCHEMA_2020_12)
def json_schema_2020_12_tool() -> str:
    """Tests JSON Schema 2020-12 keyword preservation in tools/list"""
    return "json_schema_2020_12_tool"


def _dynamic() -> str:
    """Registered and removed again by the list-change triggers."""
    return "dynamic"


@server.tool()
def test_trigger_tool_change() -> str:
    """Mutates the tool list and tells listening clients"""
    server.add_tool(_dynamic, name="test_dynamic_tool")
    server.remove_tool("test_dynamic_tool")
    server.notify_tools_changed()
    return "tool list changed"


@server.tool()
def test_trigger_prompt_change() -> str:
    """Mutates the prompt list and tells listening clients"""
    server.add_prompt(_dynamic, "test_dynamic_prompt")
    server.remove_prompt("test_dynamic_prompt")
    server.notify_prompts_changed()
    return "prompt list changed"


# Resources.
@server.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A static text resource for testing"""
    return "This is the content of the static text resource."


@server.resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A static binary resource (image) for testing"""
    return base64.b64decode(IMAGE)


@server.resource("test://template/{id}/data", mime_type="application/json")
def template_data(id: str) -> str:
    """A resource template with parameter substitution"""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@server.resource("test://watched-resource", mime_type="text/plain")
def watched() -> str:
    """A resource that can be subscribed to for updates"""
    return "Watched resource content"


# Prompts.
@server.prompt()
def test_simple_prompt() -> str:
    """A simple prompt without arguments"""
    return "This is a simple prompt for testing."


@server.prompt()
def test_prompt_with_arguments(arg1: Annotated[str, "First test argument"], arg2: Annotated[str, "Second test argument"]) -> str:
    """A prompt with required arguments"""
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@server.prompt()
def test_prompt_with_embedded_resource(resourceUri: Annotated[str, "URI of the resource to embed"]) -> list[Any]:  # noqa: N803
    """A prompt that includes an embedded resource"""
    return [EmbeddedResource(resourceUri, text="Embedded resource content for testing.", mime_type="text/plain"),
            "Please process the embedded resource above."]


@server.prompt()
def test_prompt_with_image() -> list[Any]:
    """A prompt that includes image content"""
    return [Image(IMAGE, "image/png"), "Please analyze the image above."]


@server.prompt()
def test_input_required_result_prompt(ctx: Context) -> list[Any]:
    """Tests InputRequiredResult from prompts/get (a request other than tools/call)"""
    answer = (ctx.input_responses or {}).get("user_context")
    if answer is None:
        form = {"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}
        raise InputRequired({"user_context": inputs.elicitation("What context should the prompt use?", form)})
    return [user(f"Use the following context: {(answer.get('content') or {}).get('context', '?')}")]
