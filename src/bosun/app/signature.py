"""Read a plain Python function's signature once, at registration.

From the type hints we derive: a pydantic model that validates arguments, the
input JSON Schema (2020-12) shown to clients, and, from the return annotation,
an output schema plus a serializer for `structuredContent`. All of it is built
at start-up; a call only validates and dumps.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from bosun.app.bounded import provably_bounded
from bosun.app.content import BLOCK_CLASSES

_EMPTY = inspect.Parameter.empty


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)


@dataclass(frozen=True, slots=True)
class Signature:
    """What registration learned about one function."""

    model: type[BaseModel]
    input_schema: dict[str, Any]
    context_param: str | None
    is_async: bool
    parameters: tuple[tuple[str, str | None, bool], ...]  # (name, description, required)
    names: frozenset[str] = frozenset()
    """The argument names the function takes: anything else a client sends is unknown."""
    open_ended: bool = False
    """The function takes `**kwargs`, so no argument name is unknown."""
    inline: bool = False
    """A plain `def` that runs on the event loop rather than in a worker thread (bosun/app/bounded.py)."""

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments, validated and converted (raises pydantic's ValidationError).

        The model's validator is called directly: `model_validate` adds a Python-level call around it."""
        return dict(self.model.__pydantic_validator__.validate_python(arguments).__dict__)

    def unknown(self, arguments: dict[str, Any]) -> list[str]:
        """The argument names a client sent that the function does not take (a typo, or a stale schema)."""
        if self.open_ended or self.names.issuperset(arguments):
            return []
        return sorted(str(key) for key in arguments if key not in self.names)


@dataclass(frozen=True, slots=True)
class Output:
    """How to turn a typed return value into `structuredContent`."""

    schema: dict[str, Any]
    adapter: TypeAdapter[Any]
    wrapped: bool  # a non-object return is wrapped as {"result": value}
    plain: type | None = None
    """`int`, `str` or `bool` when that is the return annotation: a value of exactly that type is already
    its JSON form, so it skips the serializer (a quarter of a small tool's shaping time)."""

    def structured(self, value: Any) -> Any:
        if type(value) is self.plain:
            return {"result": value}
        dumped = self.adapter.dump_python(value, mode="json", warnings="error")
        return {"result": dumped} if self.wrapped else dumped


def _is_context(annotation: Any) -> bool:
    from bosun.app.context import Context

    return isinstance(annotation, type) and issubclass(annotation, Context)


def _with_description(annotation: Any) -> Any:
    """`Annotated[int, "what it is"]` reads naturally; pydantic wants a Field for that."""
    if get_origin(annotation) is not Annotated:
        return annotation
    base, *extras = get_args(annotation)
    converted = [Field(description=extra) if isinstance(extra, str) else extra for extra in extras]
    return Annotated[tuple([base, *converted])]


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's auto-generated titles: noise to a model reading the schema."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    return schema


def inspect_function(fn: Callable[..., Any], name: str, inline: bool | None = None) -> Signature:
    """`inline` overrides the analysis for a plain `def`: True runs it on the event loop on its author's word."""
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    context_param = None
    described: list[tuple[str, str | None, bool]] = []
    open_ended = False
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            open_ended = open_ended or param.kind is inspect.Parameter.VAR_KEYWORD
            continue
        annotation = hints.get(param.name, Any)
        if _is_context(annotation):
            context_param = param.name
            continue
        if param.name.startswith("_"):
            raise TypeError(f"{name}: parameter {param.name!r} starts with '_', which MCP argument names may not")
        annotation = _with_description(annotation)
        default = ... if param.default is _EMPTY else param.default
        fields[param.name] = (annotation, default)
    model = create_model(f"{name}_arguments", __base__=_Arguments, **fields)
    schema = _clean(model.model_json_schema())
    schema.setdefault("properties", {})
    for field_name, info in model.model_fields.items():
        described.append((field_name, info.description, info.is_required()))
    is_async = inspect.iscoroutinefunction(fn)
    return Signature(model, schema, context_param, is_async, tuple(described), frozenset(fields), open_ended,
                     inline=not is_async and (provably_bounded(fn) and context_param is None if inline is None else inline))


def describe_validation_error(error: ValidationError) -> str:
    """'a: Input should be a valid integer; b: Field required' — names each bad field."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _is_content_type(annotation: Any) -> bool:
    """Content blocks (or `object`/`Any`, which may be anything) are shown as content, with no schema."""
    if annotation is object or annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BLOCK_CLASSES):
        return True
    origin = get_origin(annotation)
    if origin in (list, tuple, typing.Union) or str(origin) == "<class 'types.UnionType'>":
        return any(_is_content_type(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    return False


def _is_object(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    if typing.is_typeddict(annotation):
        return True
    if get_origin(annotation) is dict:
        key = get_args(annotation)[:1]
        return not key or key[0] is str
    return False


def output_for(fn: Callable[..., Any], structured: bool | None) -> Output | None:
    """The output schema for `fn`'s return annotation, or None where there is none to give."""
    if structured is False:
        return None
    annotation = typing.get_type_hints(fn, include_extras=True).get("return", _EMPTY)
    if annotation in (_EMPTY, None, type(None), Any) or _is_content_type(annotation):
        if structured:
            raise TypeError(f"{fn.__name__}: structured output needs a JSON-serializable return annotation")
        return None
    wrapped = not _is_object(annotation)
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    inner = adapter.json_schema(mode="serialization")
    if wrapped:
        definitions = inner.pop("$defs", None)  # references are resolved from the root, so hoist them there
        schema = {"type": "object", "properties": {"result": _clean(inner)}, "required": ["result"]}
        if definitions:
            schema["$defs"] = definitions
    else:
        schema = _clean(inner)
        schema.setdefault("type", "object")
    return Output(schema, adapter, wrapped, annotation if annotation in (int, str, bool) else None)
