"""MCP Apps (`io.modelcontextprotocol/ui`, SEP-1865): interactive HTML views for a server's tools.

`Server.view(...)` declares a view and `@server.tool(ui=..., visibility=[...])` links tools to it
(bosun/views.py, the Server's part; view.py and links.py here); what a host and a client without the extension see is in extension.py and
fallback.py. docs/apps.md is the guide.
"""

from bosun.apps.policy import Csp
from bosun.apps.spec import EXTENSION, MIME_TYPE, supports_views
from bosun.apps.view import View

__all__ = ["EXTENSION", "MIME_TYPE", "Csp", "View", "supports_views"]
