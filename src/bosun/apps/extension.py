"""MCP Apps as a server extension: declared in both eras, no methods of its own, two lists shaped.

The extension adds no JSON-RPC method: views are resources and their tools are tools, in the
registry like any other. What it adds is the declaration (`capabilities.extensions` holds
`"io.modelcontextprotocol/ui": {}` in the `initialize` answer and in `server/discover`, as the
specification's example shows) and, when the server is built (`bind`), the check that every link
names a declared view and the text fallback of `tools/list` and `resources/list` (fallback.py).

A server declares it when it has a view or a tool linked to one, and when it serves other servers
through bridges: a bridged server's views, links and visibility pass through, and its tools get the
same fallback, so the declaration is true of Bosun itself whatever the backends turn out to offer.
It is made before any backend has answered, as the bridged servers' tools, resources and prompts
capabilities are: `initialize` never waits for a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bosun.app.extensions import Method
from bosun.apps.fallback import without_views
from bosun.apps.links import check
from bosun.apps.spec import EXTENSION

if TYPE_CHECKING:
    from bosun.app.handlers import Handlers


class AppsExtension:
    name = EXTENSION

    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> dict[str, Method]:
        return {}

    def bind(self, handlers: Handlers) -> None:
        """When the server is built: check the links, and shape the two lists for clients without the extension."""
        check(handlers.registry)
        for table in (handlers.modern, handlers.legacy):
            table["tools/list"] = without_views(table["tools/list"], "tools")
            table["resources/list"] = without_views(table["resources/list"], "resources")
