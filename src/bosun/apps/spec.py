"""The words of MCP Apps (`io.modelcontextprotocol/ui`, SEP-1865) that Bosun reads and writes.

One place for the identifier, the MIME type, the `_meta` keys and the two questions every other
module asks: did this client declare the extension, and may the model see this tool. Nothing here
knows about servers, requests or the registry.
"""

from __future__ import annotations

from typing import Any

EXTENSION = "io.modelcontextprotocol/ui"
"""The extension's identifier, declared under `capabilities.extensions` by client and server."""
MIME_TYPE = "text/html;profile=mcp-app"
"""What a view's resource is: an HTML5 document a host renders in a sandboxed frame."""
SCHEME = "ui://"
LEGACY_URI_KEY = "ui/resourceUri"
"""The flat `_meta` key older hosts read; deprecated by the specification, still written by the official SDK."""
VISIBILITIES = frozenset({"model", "app"})
PERMISSIONS = {"camera": "camera", "microphone": "microphone", "geolocation": "geolocation",
               "clipboardWrite": "clipboardWrite", "clipboard-write": "clipboardWrite"}
"""The browser features a view may ask for: the specification's names, and the Permission-Policy spelling."""


def supports_views(capabilities: dict[str, Any]) -> bool:
    """Whether a client's capabilities declare MCP Apps with the HTML profile (the specification's own test,
    `getUiCapability(...)?.mimeTypes?.includes(RESOURCE_MIME_TYPE)`). Use it in a tool as
    `supports_views(ctx.client_capabilities)` to shape a result for hosts that render views."""
    extensions = capabilities.get("extensions")
    declared = extensions.get(EXTENSION) if type(extensions) is dict else None
    mime_types = declared.get("mimeTypes") if type(declared) is dict else None
    return type(mime_types) is list and MIME_TYPE in mime_types


def tool_ui(definition: dict[str, Any]) -> dict[str, Any] | None:
    """A tool definition's `_meta.ui`, or None."""
    meta = definition.get("_meta")
    ui = meta.get("ui") if type(meta) is dict else None
    return ui if type(ui) is dict else None


def view_uri(definition: dict[str, Any]) -> str | None:
    """The view a tool links to: `_meta.ui.resourceUri`, else the deprecated flat key."""
    ui = tool_ui(definition)
    uri = ui.get("resourceUri") if ui is not None else None
    if type(uri) is str:
        return uri
    meta = definition.get("_meta")
    legacy = meta.get(LEGACY_URI_KEY) if type(meta) is dict else None
    return legacy if type(legacy) is str else None


def for_model(definition: dict[str, Any]) -> bool:
    """Whether the model may see a tool: its `visibility` (default `["model", "app"]`) includes "model"."""
    ui = tool_ui(definition)
    visibility = ui.get("visibility") if ui is not None else None
    return type(visibility) is not list or "model" in visibility
