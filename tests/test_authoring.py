"""The authoring API: what schemas come out of type hints, and how returns become results."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from bosun import Context, Image, Server, ToolError
from bosun.app.tools import Tool


class Out(BaseModel):
    total: int


def schema_of(fn: Any) -> dict[str, Any]:
    return Tool(fn).definition["inputSchema"]


def test_schema_from_hints_is_valid_2020_12() -> None:
    def fn(name: Annotated[str, "who"], count: int = 3, tags: list[str] | None = None,
           level: Annotated[float, Field(ge=0, le=1)] = 0.5) -> str:
        return name

    schema = schema_of(fn)
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"] == {"description": "who", "type": "string"}
    assert schema["properties"]["count"] == {"default": 3, "type": "integer"}
    assert schema["properties"]["level"]["maximum"] == 1
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"name": "x", "tags": ["a"]})
    assert not validator.is_valid({"count": 1})


def test_context_parameter_is_not_in_the_schema() -> None:
    async def fn(city: str, ctx: Context) -> str:
        return city

    tool = Tool(fn)
    assert list(tool.definition["inputSchema"]["properties"]) == ["city"]
    assert tool.signature.context_param == "ctx"


def test_output_schema_wraps_scalars_and_keeps_models() -> None:
    def scalar() -> list[int]:
        return [1]

    def model() -> Out:
        return Out(total=1)

    def untyped():  # type: ignore[no-untyped-def]
        return 1

    assert Tool(scalar).definition["outputSchema"]["properties"]["result"]["type"] == "array"
    assert Tool(model).definition["outputSchema"]["properties"]["total"]["type"] == "integer"
    assert "outputSchema" not in Tool(untyped).definition
    assert "outputSchema" not in Tool(scalar, structured_output=False).definition


def call(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(tool.call(arguments, None))


def test_results_for_each_kind_of_return() -> None:
    def model() -> Out:
        return Out(total=2)

    def image() -> Image:
        return Image(b"\x89PNG", "image/png")

    def nothing() -> None:
        return None

    assert call(Tool(model), {}) == {"content": [{"type": "text", "text": '{"total":2}'}], "structuredContent": {"total": 2}}
    assert call(Tool(image), {})["content"][0] == {"type": "image", "data": "iVBORw==", "mimeType": "image/png"}
    assert call(Tool(nothing), {}) == {"content": []}


def test_return_not_matching_the_annotation_is_an_error_result() -> None:
    def liar() -> int:
        return "seven"  # type: ignore[return-value]

    result = call(Tool(liar), {})
    text = result["content"][0]["text"]  # a server bug: reported generically, the value itself never shown
    assert result["isError"] is True and "Shaping the result of tool liar failed unexpectedly" in text and "seven" not in text


def test_plain_scalar_returns_are_exact() -> None:
    """int, str and bool returns skip the serializer only when the value is exactly that type."""

    def count() -> int:
        return 7

    def flag() -> bool:
        return True

    def word() -> str:
        return "x"

    def halved() -> int:
        return 7 / 2  # type: ignore[return-value]

    assert call(Tool(count), {}) == {"content": [{"type": "text", "text": "7"}], "structuredContent": {"result": 7}}
    assert call(Tool(flag), {}) == {"content": [{"type": "text", "text": "true"}], "structuredContent": {"result": True}}
    assert call(Tool(word), {}) == {"content": [{"type": "text", "text": "x"}], "structuredContent": {"result": "x"}}
    assert call(Tool(halved), {})["isError"] is True  # a float where an int was promised is a bug, as before


def test_tool_error_and_validation_messages() -> None:
    def picky(n: Annotated[int, Field(gt=0)]) -> int:
        if n == 13:
            raise ToolError("unlucky")
        return n

    tool = Tool(picky)
    assert call(tool, {"n": 13})["content"][0]["text"] == "unlucky"
    message = call(tool, {"n": -1})["content"][0]["text"]
    assert message.startswith("Invalid arguments for tool picky: n:") and "greater than 0" in message
    assert "n: Field required" in call(tool, {})["content"][0]["text"]


def test_registration_mistakes_fail_at_start_up() -> None:
    server = Server("x")

    @server.tool
    def once() -> str:
        return ""

    with pytest.raises(ValueError, match="already registered"):
        server.add_tool(once)
    with pytest.raises(TypeError, match="template's variables"):
        @server.resource("item://{id}")
        def wrong(name: str) -> str:
            return name


def test_capabilities_follow_what_is_registered() -> None:
    server = Server("x")
    assert set(server.capabilities()) == {"logging"}

    @server.tool()
    def t() -> str:
        return ""

    assert set(server.capabilities()) == {"logging", "tools"}


class Item(BaseModel):
    name: str


def test_wrapped_output_schema_keeps_its_definitions_resolvable() -> None:
    def items() -> list[Item]:
        return [Item(name="a")]

    schema = Tool(items).definition["outputSchema"]
    assert schema["properties"]["result"]["items"] == {"$ref": "#/$defs/Item"} and "Item" in schema["$defs"]
    Draft202012Validator(schema).validate({"result": [{"name": "a"}]})


def test_unknown_arguments_follow_the_advertised_schema() -> None:
    def pick(a: int) -> int:
        return a

    assert "unknown argument(s) 'b'" in call(Tool(pick), {"a": 1, "b": 2})["content"][0]["text"]
    open_schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert call(Tool(pick, input_schema=open_schema), {"a": 1, "b": 2})["structuredContent"] == {"result": 1}
    closed = {**open_schema, "additionalProperties": False}
    assert call(Tool(pick, input_schema=closed), {"a": 1, "b": 2})["isError"] is True
