"""Tools: a typed function, its schemas, and turning its outcome into a `CallToolResult`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bosun.app.content import is_content, is_mixed, to_content, to_text
from bosun.app.context import Context
from bosun.app.errors import ToolError, unexpected
from bosun.app.inputs import InputRequired
from bosun.app.invoke import invoke
from bosun.app.signature import Output, describe_validation_error, inspect_function, output_for
from bosun.data.errors import StatementCancelled
from bosun.protocol.errors import McpError

__all__ = ["Tool", "ToolError", "error_result"]


def error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def mirrored_headers(schema: dict[str, Any], path: tuple[str, ...] = ()) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Arguments marked `x-mcp-header` (2026-07-28): (lower-cased header suffix, property path)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for key, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict):
            continue
        header = prop.get("x-mcp-header")
        if isinstance(header, str) and header:
            found.append((header.lower(), (*path, key)))
        if prop.get("type") == "object":
            found.extend(mirrored_headers(prop, (*path, key)))
    return tuple(found)


class Tool:
    """One registered tool; everything per-call is precomputed here."""

    __slots__ = ("name", "fn", "signature", "output", "definition", "mirrored_headers", "cache_ttl", "cache_tags",
                 "invalidates", "scopes", "rate_limit", "strict_arguments")
    via: str | None = None
    """What serves the tool when it is not this server's own function (a bridge), for the audit trail."""
    hidden: bool = False
    """Callable but left out of lists (a gateway's hidden tools)."""
    shared_limit: tuple[str, str] | None = None
    """(bucket, "COUNT/PERIOD"): a rate limit this tool shares with others (every tool of one bridged server)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | None = None,
        structured_output: bool | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        input_schema: dict[str, Any] | None = None,
        cache_ttl: float | None = None,
        cache_tags: tuple[str, ...] | list[str] = (),
        invalidates: tuple[str, ...] | list[str] = (),
        scopes: tuple[str, ...] | list[str] = (),
        rate_limit: str | None = None,
        strict_arguments: bool | None = None,
        inline: bool | None = None,
    ) -> None:
        """`cache_ttl` caches successful results for that many seconds, keyed on the arguments and the
        caller; `cache_tags` label those entries; `invalidates` drops every entry with those tags after
        this tool succeeds (a write tool invalidating the searches it affects).

        `scopes` are the OAuth scopes a caller needs to call this tool (and, by default, to see it in
        `tools/list`); `rate_limit` ("10/minute") caps calls per caller, across replicas with Redis.

        `strict_arguments=False` lets this tool ignore arguments it does not take (the server's
        `BOSUN_STRICT_ARGUMENTS` decides otherwise; by default they are refused, naming them). An explicit
        `input_schema` that does not say `"additionalProperties": false` allows them, as it tells clients.

        A plain `def` runs in a worker thread unless it provably cannot block (bosun/app/bounded.py);
        `inline=True` runs it on the event loop on its author's word, `inline=False` never does."""
        if strict_arguments is None and input_schema is not None and input_schema.get("additionalProperties", True) is not False:
            strict_arguments = False  # the schema the client sees allows other properties: do not refuse them
        self.strict_arguments = strict_arguments
        self.scopes = frozenset(scopes)
        self.rate_limit = rate_limit
        self.cache_ttl = cache_ttl
        self.cache_tags = tuple(cache_tags)
        self.invalidates = tuple(invalidates)
        self.name = name or fn.__name__
        self.fn = fn
        self.signature = inspect_function(fn, self.name, inline)
        self.output: Output | None = output_for(fn, structured_output)
        definition: dict[str, Any] = {"name": self.name}
        if title:
            definition["title"] = title
        text = description if description is not None else (fn.__doc__ or "").strip()
        if text:
            definition["description"] = text
        # An explicit schema is advertised as given (any 2020-12 keywords); arguments are still
        # validated against the function's own signature.
        definition["inputSchema"] = input_schema if input_schema is not None else self.signature.input_schema
        if self.output is not None:
            definition["outputSchema"] = self.output.schema
        if annotations:
            definition["annotations"] = annotations
        if icons:
            definition["icons"] = icons
        if meta:
            definition["_meta"] = meta
        self.definition = definition
        self.mirrored_headers = mirrored_headers(definition["inputSchema"])

    async def call(self, arguments: Any, ctx: Context | None, details: bool = False, strict: bool = True) -> dict[str, Any]:
        """Validate, run, and shape the result. Failures of the tool itself become `isError` results:
        a `ToolError`'s message as given, and so a statement the database cancelled (the tool's own slow
        query: the model should read why), anything else as a generic message (`details` adds its text).
        `strict` (the server's default; the tool's own `strict_arguments` wins) refuses arguments the
        function does not take, naming them."""
        if arguments is None:
            arguments = {}
        elif type(arguments) is not dict:
            return error_result(f"Invalid arguments for tool {self.name}: arguments must be an object")
        if strict if self.strict_arguments is None else self.strict_arguments:
            unknown = self.signature.unknown(arguments)
            if unknown:
                expected = ", ".join(name for name, _, _ in self.signature.parameters) or "none"
                return error_result(f"Invalid arguments for tool {self.name}: unknown argument(s) "
                                    f"{', '.join(map(repr, unknown))[:500]}; it takes: {expected}")
        try:
            validated = self.signature.validate(arguments)
        except ValidationError as exc:
            return error_result(f"Invalid arguments for tool {self.name}: {describe_validation_error(exc)}")
        try:
            value = await invoke(self.fn, self.signature, validated, ctx)
        except (InputRequired, McpError):
            raise
        except (ToolError, StatementCancelled) as exc:
            return error_result(str(exc))
        except Exception as exc:
            return error_result(unexpected(f"Tool {self.name}", exc, details)[0])
        try:
            return self.shape(value)
        except Exception as exc:  # a value its return type cannot hold, or content that cannot be encoded
            return error_result(unexpected(f"Shaping the result of tool {self.name}", exc, details)[0])

    def shape(self, value: Any) -> dict[str, Any]:
        output = self.output
        if output is None or is_content(value) or is_mixed(value):
            return {"content": to_content(value)}
        structured = output.structured(value)
        shown = structured["result"] if output.wrapped else structured
        return {"content": [{"type": "text", "text": to_text(shown)}], "structuredContent": structured}
