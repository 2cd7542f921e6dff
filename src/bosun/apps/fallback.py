"""What a client that did not declare MCP Apps sees: the text-only server the specification describes.

The specification asks servers to check the client's capabilities before offering UI-enabled tools
and to fall back to plain tools otherwise; a host that renders views must keep app-only tools from
its model. A client that declared nothing renders nothing and hands its whole list to the model, so
for it (per request in 2026-07-28, per session in 2025):

* tools whose `visibility` leaves out "model" are not listed (they exist for a view it cannot show);
* the others are listed without `_meta.ui` (and without the flat `ui/resourceUri`): plain tools;
* views (resources of the MCP App MIME type) are not listed, as the specification allows.

Their calls still answer, with the text content every Bosun tool result carries. A client that
declared the extension gets the lists unchanged. This wraps the list methods only: `tools/call`,
the hot path, is not touched.
"""

from __future__ import annotations

from typing import Any

from bosun.app.extensions import Method
from bosun.apps.spec import LEGACY_URI_KEY, MIME_TYPE, for_model, supports_views
from bosun.protocol.call import Call


def _plain(tool: dict[str, Any]) -> dict[str, Any]:
    meta = tool.get("_meta")
    if type(meta) is not dict or ("ui" not in meta and LEGACY_URI_KEY not in meta):
        return tool
    kept = {key: value for key, value in meta.items() if key != "ui" and key != LEGACY_URI_KEY}
    plain = {key: value for key, value in tool.items() if key != "_meta"}
    if kept:
        plain["_meta"] = kept
    return plain


def plain_tools(tools: list[Any]) -> list[Any]:
    return [_plain(tool) for tool in tools if type(tool) is dict and for_model(tool)]


def plain_resources(resources: list[Any]) -> list[Any]:
    return [resource for resource in resources if type(resource) is not dict or resource.get("mimeType") != MIME_TYPE]


def without_views(inner: Method, key: str) -> Method:
    """`inner` (a list method), its `key` list shaped for a client that did not declare MCP Apps."""
    shape = plain_tools if key == "tools" else plain_resources

    async def listed(call: Call) -> dict[str, Any]:
        result = await inner(call)
        items = result.get(key)
        if type(items) is not list or supports_views(call.capabilities):
            return result
        return {**result, key: shape(items)}

    return listed
