"""A tool's link to its view, and who may see the tool: `_meta.ui` on the tool's definition.

    @server.tool(ui=dashboard)                       # _meta.ui.resourceUri: the host renders the result in the view
    @server.tool(ui=dashboard, visibility=["app"])   # for the view only: hidden from the model's list

Both are plain metadata on an ordinary tool, so scopes, rate limits, the audit trail and metrics apply
to a view's calls as to any other. The deprecated flat `_meta["ui/resourceUri"]` is written beside
the nested key, as the official SDK does, for hosts that still read it. `check` runs when the server
is built: a link to a view that was never declared is an error then, not a blank frame in a host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bosun.app.registry import Registry
from bosun.app.resources import Resource
from bosun.apps.spec import LEGACY_URI_KEY, MIME_TYPE, SCHEME, VISIBILITIES, view_uri
from bosun.apps.view import View


def tool_meta(ui: View | str | None, visibility: Iterable[str] | None, meta: dict[str, Any] | None) -> dict[str, Any]:
    """The tool's `_meta` with its `ui` entry (an explicit `meta["ui"]` is refused: say it one way)."""
    meta = dict(meta or {})
    if "ui" in meta:
        raise ValueError("give ui= and visibility=, or meta={'ui': ...}, not both")
    entry: dict[str, Any] = {}
    if ui is not None:
        uri = ui.uri if isinstance(ui, View) else ui
        if not isinstance(uri, str) or not uri.startswith(SCHEME):
            raise ValueError(f"ui= is a view declared with server.view(...) or its ui:// URI, not {uri!r}")
        entry["resourceUri"] = uri
        meta[LEGACY_URI_KEY] = uri
    if visibility is not None:
        if isinstance(visibility, str):
            raise ValueError(f"visibility is a list, such as ['app'], not {visibility!r}")
        chosen = list(dict.fromkeys(visibility))
        if not chosen or not set(chosen) <= VISIBILITIES:
            raise ValueError(f"visibility holds 'model' and/or 'app' (the default is both), not {chosen!r}")
        entry["visibility"] = chosen
    meta["ui"] = entry
    return meta


def check(registry: Registry) -> None:
    """Every tool's link names a view this server declares, as an HTML view; otherwise a ValueError naming both."""
    for name, tool in registry.tools.items():
        if getattr(tool, "bridge", None) is not None:
            continue  # a bridged server's links are its own, checked by its host
        uri = view_uri(tool.definition)
        if uri is None:
            continue
        found = registry.find_resource(uri)
        if found is None:
            raise ValueError(f"tool {name!r} links to the view {uri!r}, which this server does not declare: "
                             f"add server.view({uri!r}, html=...)")
        resource = found[0]
        if isinstance(resource, Resource) and resource.mime_type != MIME_TYPE:
            raise ValueError(f"tool {name!r} links to {uri!r}, whose MIME type is {resource.mime_type!r}, not {MIME_TYPE!r}")
