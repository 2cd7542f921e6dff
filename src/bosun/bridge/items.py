"""A child's tools, resources and prompts as registry items, so the whole surface applies to them.

Each item is the registry's own kind (a `Tool`, `Resource`, `ResourceTemplate`, `Prompt`) whose
work is to forward to the bridge. Scopes, hiding from lists, rate limits, the audit trail, metrics,
`Mcp-Name` checks and multi round-trip input all work on them as on a Python function's, because
the handlers cannot tell the difference. Each takes a `Context` (the signature of `_forward`), which
is how the handlers hand it the caller, the session and the client's answers.
"""

from __future__ import annotations

from typing import Any, Protocol

from bosun.app.context import Context
from bosun.app.prompts import Prompt
from bosun.app.resources import Resource, ResourceTemplate, compile_template
from bosun.app.signature import inspect_function
from bosun.app.tools import Tool, mirrored_headers
from bosun.bridge.naming import Naming
from bosun.protocol.errors import invalid_params


class Forwarder(Protocol):
    naming: Naming

    async def forward(self, method: str, params: dict[str, Any], ctx: Context | None) -> dict[str, Any]: ...


async def _forward(ctx: Context) -> None:
    """The signature every bridged item has: it takes the request's context, nothing else."""


def _signature(label: str) -> Any:
    return inspect_function(_forward, label, False)


class BridgedTool(Tool):
    __slots__ = ("bridge", "upstream_name", "via", "hidden", "shared_limit")

    def __init__(self, bridge: Forwarder, definition: dict[str, Any], name: str, scopes: tuple[str, ...],
                 rate_limit: str | None, hidden: bool = False, shared_limit: str | None = None) -> None:
        self.bridge = bridge
        self.upstream_name = definition["name"]
        self.name = name
        self.fn = _forward
        self.signature = _signature(name)
        self.output = None
        self.definition = {**definition, "name": name}
        schema = definition.get("inputSchema")
        self.mirrored_headers = mirrored_headers(schema) if type(schema) is dict else ()
        self.cache_ttl = None
        self.cache_tags = ()
        self.invalidates = ()
        self.scopes = frozenset(scopes)
        self.rate_limit = rate_limit
        self.strict_arguments = False  # the child validates its own arguments
        self.via = f"bridge:{getattr(bridge, 'name', 'bridge')}"
        self.hidden = hidden
        self.shared_limit = (f"b:{getattr(bridge, 'name', 'bridge')}", shared_limit) if shared_limit is not None else None

    async def call(self, arguments: Any, ctx: Context | None, details: bool = False, strict: bool = True) -> dict[str, Any]:
        if arguments is not None and type(arguments) is not dict:
            return {"content": [{"type": "text", "text": f"Invalid arguments for tool {self.name}: arguments must be an object"}],
                    "isError": True}
        params: dict[str, Any] = {"name": self.upstream_name}
        if arguments is not None:
            params["arguments"] = arguments
        return await self.bridge.forward("tools/call", params, ctx)


def _contents(result: dict[str, Any]) -> list[dict[str, Any]]:
    contents = result.get("contents")
    if type(contents) is not list:
        raise invalid_params("The bridged server answered resources/read without contents")
    return contents


def _contents_named(result: dict[str, Any], naming: Naming) -> list[dict[str, Any]]:
    """The contents with their URIs as the client knows them (the backend answers with its own)."""
    contents = _contents(result)
    if naming.prefix:
        contents = [{**item, "uri": naming.uri(item["uri"])} if type(item) is dict and type(item.get("uri")) is str else item
                    for item in contents]
    return contents


class BridgedResource(Resource):
    __slots__ = ("bridge", "upstream_uri")

    def __init__(self, bridge: Forwarder, definition: dict[str, Any], scopes: tuple[str, ...]) -> None:
        self.bridge = bridge
        self.upstream_uri = definition["uri"]
        self.uri = bridge.naming.uri(self.upstream_uri)
        self.fn = _forward
        self.signature = _signature(self.uri)
        self.mime_type = definition.get("mimeType")
        self.ttl_ms = None
        self.cache_scope = None
        self.definition = {**definition, "uri": self.uri}
        self.scopes = frozenset(scopes)

    async def read(self, ctx: Context | None) -> list[dict[str, Any]]:
        return _contents_named(await self.bridge.forward("resources/read", {"uri": self.upstream_uri}, ctx), self.bridge.naming)


class BridgedTemplate(ResourceTemplate):
    __slots__ = ("bridge",)

    def __init__(self, bridge: Forwarder, definition: dict[str, Any], scopes: tuple[str, ...]) -> None:
        self.bridge = bridge
        self.uri_template = bridge.naming.uri(str(definition["uriTemplate"]))
        self.pattern, self.variables = compile_template(self.uri_template)
        self.fn = _forward
        self.signature = _signature(self.uri_template)
        self.mime_type = definition.get("mimeType")
        self.ttl_ms = None
        self.cache_scope = None
        self.definition = {**definition, "uriTemplate": self.uri_template}
        self.scopes = frozenset(scopes)

    async def read(self, uri: str, variables: dict[str, str], ctx: Context | None) -> list[dict[str, Any]]:
        naming = self.bridge.naming
        upstream = naming.upstream_uri(uri)
        if upstream is None:
            raise invalid_params("The URI does not belong to this bridged server")
        return _contents_named(await self.bridge.forward("resources/read", {"uri": upstream}, ctx), naming)


class BridgedPrompt(Prompt):
    __slots__ = ("bridge", "upstream_name")

    def __init__(self, bridge: Forwarder, definition: dict[str, Any], name: str, scopes: tuple[str, ...]) -> None:
        self.bridge = bridge
        self.upstream_name = definition["name"]
        self.name = name
        self.fn = _forward
        self.signature = _signature(name)
        self.definition = {**definition, "name": name}
        self.scopes = frozenset(scopes)

    async def render(self, arguments: Any, ctx: Context | None) -> dict[str, Any]:
        if arguments is not None and type(arguments) is not dict:
            raise invalid_params(f"Invalid arguments for prompt {self.name}: arguments must be an object")
        params: dict[str, Any] = {"name": self.upstream_name}
        if arguments:
            params["arguments"] = {key: str(value) for key, value in arguments.items()}
        return await self.bridge.forward("prompts/get", params, ctx)
