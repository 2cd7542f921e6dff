"""A bridged tool's link to its MCP Apps view, renamed with the view.

A backend's `ui://get-time/app.html` is offered as `ui://<prefix>/get-time/app.html` (naming.py), so a
tool's `_meta.ui.resourceUri` (and the deprecated flat `_meta["ui/resourceUri"]`) must name the
view as the client will read it, or the host finds no view. Everything else in `_meta.ui`
(visibility) and on the view itself (its `_meta.ui`: CSP, permissions, border) passes unchanged.
"""

from __future__ import annotations

from typing import Any

from bosun.bridge.naming import Naming

_LEGACY = "ui/resourceUri"


def linked(definition: dict[str, Any], naming: Naming) -> dict[str, Any]:
    """`definition`, its view links renamed for `naming` (the same object when there is nothing to rename)."""
    meta = definition.get("_meta")
    if not naming.prefix or type(meta) is not dict:
        return definition
    renamed: dict[str, Any] = {}
    ui = meta.get("ui")
    if type(ui) is dict and type(ui.get("resourceUri")) is str:
        renamed["ui"] = {**ui, "resourceUri": naming.uri(ui["resourceUri"])}
    if type(meta.get(_LEGACY)) is str:
        renamed[_LEGACY] = naming.uri(meta[_LEGACY])
    return {**definition, "_meta": {**meta, **renamed}} if renamed else definition
