"""Prompts: a typed function whose string arguments fill in a list of messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bosun.app.content import block_json, is_content
from bosun.app.context import Context
from bosun.app.invoke import invoke
from bosun.app.signature import describe_validation_error, inspect_function
from bosun.protocol.errors import invalid_params


def user(content: Any) -> dict[str, Any]:
    """A user message; `content` is a string or a content block."""
    return {"role": "user", "content": block_json(content)}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": block_json(content)}


def _messages(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, (list, tuple)) else [value]
    messages = []
    for item in items:
        if isinstance(item, dict) and "role" in item:
            messages.append(item)
        elif isinstance(item, str) or is_content(item):
            messages.append(user(item))
        else:
            raise TypeError(f"a prompt returned {type(item).__name__}; return strings, content blocks or messages")
    return messages


class Prompt:
    __slots__ = ("name", "fn", "signature", "definition", "scopes")
    hidden: bool = False

    def __init__(self, fn: Callable[..., Any], name: str | None = None, title: str | None = None,
                 description: str | None = None, icons: list[dict[str, Any]] | None = None,
                 scopes: tuple[str, ...] | list[str] = (), inline: bool | None = None) -> None:
        self.scopes = frozenset(scopes)
        """OAuth scopes a caller needs to get (or complete) this prompt, on top of the server's own."""
        self.name = name or fn.__name__
        self.fn = fn
        self.signature = inspect_function(fn, self.name, inline)
        definition: dict[str, Any] = {"name": self.name}
        if title:
            definition["title"] = title
        text = description if description is not None else (fn.__doc__ or "").strip()
        if text:
            definition["description"] = text
        arguments = []
        for arg_name, arg_description, required in self.signature.parameters:
            argument: dict[str, Any] = {"name": arg_name, "required": required}
            if arg_description:
                argument["description"] = arg_description
            arguments.append(argument)
        if arguments:
            definition["arguments"] = arguments
        if icons:
            definition["icons"] = icons
        self.definition = definition

    async def render(self, arguments: Any, ctx: Context | None) -> dict[str, Any]:
        if arguments is None:
            arguments = {}
        elif type(arguments) is not dict:
            raise invalid_params(f"Invalid arguments for prompt {self.name}: arguments must be an object")
        try:
            validated = self.signature.validate(arguments)
        except ValidationError as exc:
            raise invalid_params(f"Invalid arguments for prompt {self.name}: {describe_validation_error(exc)}") from None
        value = await invoke(self.fn, self.signature, validated, ctx)
        result: dict[str, Any] = {"messages": _messages(value)}
        if "description" in self.definition:
            result["description"] = self.definition["description"]
        return result
