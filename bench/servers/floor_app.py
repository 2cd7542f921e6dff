"""The start-up floor: the ceiling's handler with its arguments validated by pydantic models.

Any Python MCP server that validates typed arguments with pydantic and serves them with uvicorn
imports at least this much and builds at least these models before it answers; Bosun's cold start
and idle memory are read against it (docs/benchmarks.md, "Footprint against its floor"). Like the ceiling, it has no
protocol checks, so it is not a server anyone should run.
"""

from typing import Any

from bare_app import handler, tool_result
from pydantic import BaseModel


class AddArguments(BaseModel):
    a: int
    b: int


class Rect(BaseModel):
    width: float
    height: float


class AreaArguments(BaseModel):
    shape: Rect


def _add(arguments: dict[str, Any]) -> dict[str, Any]:
    valid = AddArguments.model_validate(arguments)
    return tool_result(valid.a + valid.b)


def _area(arguments: dict[str, Any]) -> dict[str, Any]:
    valid = AreaArguments.model_validate(arguments)
    return tool_result(valid.shape.width * valid.shape.height)


app = handler({"add": _add, "add_async": _add, "area": _area})
