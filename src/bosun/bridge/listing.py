"""A bridged server's lists: read from a child, and put into the registry under their public names.

What the operator allowed decides what is installed: `deny_tools` are never offered nor callable,
`allow_tools` (when given) is the whole offer, and `hidden_tools` are callable but left out of lists.
Names are the backend's own, prefixed (`naming.py`); a name that would break the specification's
rules once prefixed is left out with a warning. A server's own item is never replaced by a bridged
one of the same name: that is logged, and the bridged one is left out.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bosun.app.registry import Registry
from bosun.bridge.child import Child
from bosun.bridge.handshake import outbound_meta
from bosun.bridge.items import BridgedPrompt, BridgedResource, BridgedTemplate, BridgedTool, Forwarder
from bosun.bridge.naming import valid_tool_name
from bosun.bridge.options import BridgeOptions
from bosun.bridge.skills import SkillFiles, skill_space
from bosun.bridge.views import linked
from bosun.protocol.errors import McpError

log = logging.getLogger("bosun.bridge")


class Listed(Forwarder, Protocol):
    """What installing a bridge's items needs of it."""

    name: str
    registry: Registry
    options: BridgeOptions

    def scopes(self, name: str) -> tuple[str, ...]: ...

_MAX_PAGES = 50
_LISTS = (("tools", "tools/list", "tools"), ("resources", "resources/list", "resources"),
          ("resourceTemplates", "resources/templates/list", "resources"), ("prompts", "prompts/list", "prompts"))


async def load(child: Child, name: str, timeout: float) -> dict[str, list[dict[str, Any]]]:
    """Every page of every list the child offers (a list it fails is logged and left empty)."""
    assert child.info is not None
    offered = child.info.capabilities
    found: dict[str, list[dict[str, Any]]] = {}
    for key, method, capability in _LISTS:
        items: list[dict[str, Any]] = []
        if capability in offered:
            cursor: Any = None
            for _ in range(_MAX_PAGES):
                params: dict[str, Any] = {} if cursor is None else {"cursor": cursor}
                if child.info.modern:
                    params["_meta"] = outbound_meta({}, True, None)
                try:
                    page = await child.request(method, params, timeout)
                except McpError as failure:
                    log.warning("bridge %s: %s failed: %s", name, method, failure.message)
                    break
                got = page.get(key)
                items.extend(item for item in (got if type(got) is list else []) if type(item) is dict)
                cursor = page.get("nextCursor")
                if not cursor:
                    break
        found[key] = items
    found["skillSpace"] = skill_space(offered)
    return found


def withdraw(bridge: Listed) -> None:
    """Take every item of this bridge out of the registry (the server's own stay)."""
    registry = bridge.registry
    for table in (registry.tools, registry.resources, registry.prompts):
        for existing, item in list(table.items()):
            if getattr(item, "bridge", None) is bridge:
                del table[existing]
    registry.templates[:] = [item for item in registry.templates if getattr(item, "bridge", None) is not bridge]


def install(bridge: Listed, lists: dict[str, list[dict[str, Any]]]) -> None:
    """Replace this bridge's items in the registry with `lists`."""
    withdraw(bridge)
    registry = bridge.registry
    options = bridge.options
    naming = bridge.naming
    allowed, denied, hidden = set(options.allow_tools), set(options.deny_tools), set(options.hidden_tools)
    for definition in lists["tools"]:
        upstream = definition.get("name")
        if type(upstream) is not str or upstream in denied or (allowed and upstream not in allowed):
            continue
        name = naming.name(upstream)
        if not valid_tool_name(name):
            log.warning("bridge %s: tool %r is left out: %r is not a valid tool name", bridge.name, upstream[:100], name[:140])
        elif _free(bridge, registry.tools, name, "tool"):
            registry.tools[name] = BridgedTool(bridge, linked(definition, naming), name, bridge.scopes(upstream),
                                               options.tool_rate_limits.get(upstream), upstream in hidden, options.rate_limit)
    for definition in lists["resources"]:
        uri = definition.get("uri")
        if type(uri) is str and _free(bridge, registry.resources, naming.uri(uri), "resource"):
            resource = BridgedResource(bridge, definition, bridge.scopes(uri))
            registry.resources[resource.uri] = resource
    for definition in lists["resourceTemplates"]:
        template = definition.get("uriTemplate")
        if type(template) is str:
            registry.templates.append(BridgedTemplate(bridge, definition, bridge.scopes(template)))
    for definition in lists.get("skillSpace", ()):  # after the child's own templates, which are more precise
        registry.templates.append(SkillFiles(bridge, definition, bridge.scopes("*")))
    for definition in lists["prompts"]:
        upstream = definition.get("name")
        if type(upstream) is not str:
            continue
        name = naming.name(upstream)
        if _free(bridge, registry.prompts, name, "prompt"):
            registry.prompts[name] = BridgedPrompt(bridge, definition, name, bridge.scopes(upstream))


def _free(bridge: Listed, table: dict[str, Any], name: str, kind: str) -> bool:
    if name in table:
        log.warning("bridge %s: %s %r is taken (by the server's own or another bridge's); the child's is left out",
                    bridge.name, kind, name[:100])
        return False
    return True
