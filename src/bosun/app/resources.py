"""Resources: fixed URIs and RFC 6570 URI templates, read through plain functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError

from bosun.app.content import EmbeddedResource, resource_contents, to_text
from bosun.app.context import Context
from bosun.app.invoke import invoke
from bosun.app.signature import describe_validation_error, inspect_function
from bosun.protocol.errors import invalid_params

_VARIABLE = re.compile(r"\{([+#]?)([A-Za-z0-9_]+)\}")


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """`file:///{+path}` → a regex; `{name}` matches one path segment, `{+name}` matches anything."""
    pattern, names, last = [], [], 0
    for found in _VARIABLE.finditer(template):
        pattern.append(re.escape(template[last : found.start()]))
        operator, name = found.groups()
        pattern.append(f"(?P<{name}>.+)" if operator else f"(?P<{name}>[^/?#]+)")
        names.append(name)
        last = found.end()
    pattern.append(re.escape(template[last:]))
    return re.compile("".join(pattern) + r"\Z"), tuple(names)


def _contents(uri: str, value: Any, mime_type: str | None) -> list[dict[str, Any]]:
    """What a resource function returned, as `ResourceContents` entries."""
    if isinstance(value, EmbeddedResource):
        return [resource_contents(value.uri, value.text, value.blob, value.mime_type)]
    if isinstance(value, (bytes, bytearray)):
        return [resource_contents(uri, None, bytes(value), mime_type or "application/octet-stream")]
    if isinstance(value, str):
        return [resource_contents(uri, value, None, mime_type or "text/plain")]
    if isinstance(value, list) and value and all(isinstance(item, (dict, EmbeddedResource)) for item in value):
        return [item if isinstance(item, dict) else _contents(uri, item, mime_type)[0] for item in value]
    return [resource_contents(uri, to_text(value), None, mime_type or "application/json")]


class _Readable:
    __slots__ = ("fn", "signature", "mime_type", "ttl_ms", "cache_scope", "definition", "scopes")
    hidden: bool = False

    def __init__(self, fn: Callable[..., Any], label: str, mime_type: str | None, ttl_ms: int | None, cache_scope: str | None,
                 scopes: tuple[str, ...] | list[str] = (), inline: bool | None = None) -> None:
        self.scopes = frozenset(scopes)
        """OAuth scopes a caller needs to read (or subscribe to) this resource, on top of the server's own."""
        self.fn = fn
        self.signature = inspect_function(fn, label, inline)
        self.mime_type = mime_type
        self.ttl_ms = ttl_ms
        self.cache_scope = cache_scope
        self.definition: dict[str, Any] = {}

    def _describe(self, name: str | None, title: str | None, description: str | None, extra: dict[str, Any] | None) -> None:
        self.definition["name"] = name or self.fn.__name__
        if title:
            self.definition["title"] = title
        text = description if description is not None else (self.fn.__doc__ or "").strip()
        if text:
            self.definition["description"] = text
        if self.mime_type:
            self.definition["mimeType"] = self.mime_type
        if extra:
            self.definition.update(extra)

    async def _read(self, uri: str, variables: dict[str, Any], ctx: Context | None) -> list[dict[str, Any]]:
        try:
            validated = self.signature.validate(variables)
        except ValidationError as exc:
            raise invalid_params(f"Invalid resource URI {uri}: {describe_validation_error(exc)}") from None
        value = await invoke(self.fn, self.signature, validated, ctx)
        return _contents(uri, value, self.mime_type)


class Resource(_Readable):
    """A resource at one fixed URI."""

    __slots__ = ("uri",)

    def __init__(self, fn: Callable[..., Any], uri: str, *, name: str | None = None, title: str | None = None,
                 description: str | None = None, mime_type: str | None = None, ttl_ms: int | None = None,
                 cache_scope: str | None = None, extra: dict[str, Any] | None = None,
                 scopes: tuple[str, ...] | list[str] = (), inline: bool | None = None) -> None:
        super().__init__(fn, name or fn.__name__, mime_type, ttl_ms, cache_scope, scopes, inline)
        self.uri = uri
        self.definition["uri"] = uri
        self._describe(name, title, description, extra)

    async def read(self, ctx: Context | None) -> list[dict[str, Any]]:
        return await self._read(self.uri, {}, ctx)


class ResourceTemplate(_Readable):
    """Resources whose URIs follow a template; the template's variables are the function's arguments."""

    __slots__ = ("uri_template", "pattern", "variables")

    def __init__(self, fn: Callable[..., Any], uri_template: str, *, name: str | None = None, title: str | None = None,
                 description: str | None = None, mime_type: str | None = None, ttl_ms: int | None = None,
                 cache_scope: str | None = None, extra: dict[str, Any] | None = None,
                 scopes: tuple[str, ...] | list[str] = (), inline: bool | None = None) -> None:
        super().__init__(fn, name or fn.__name__, mime_type, ttl_ms, cache_scope, scopes, inline)
        self.uri_template = uri_template
        self.pattern, self.variables = compile_template(uri_template)
        parameters = {name for name, _, _ in self.signature.parameters}
        if parameters != set(self.variables):
            raise TypeError(
                f"{uri_template}: function parameters {sorted(parameters)} must be the template's variables {sorted(self.variables)}"
            )
        self.definition["uriTemplate"] = uri_template
        self._describe(name, title, description, extra)

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.pattern.match(uri)
        if found is None:
            return None
        return {key: unquote(value) for key, value in found.groupdict().items()}

    async def read(self, uri: str, variables: dict[str, str], ctx: Context | None) -> list[dict[str, Any]]:
        return await self._read(uri, variables, ctx)
