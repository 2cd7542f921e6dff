"""A server whose tool list grows at run time: `grow` adds a tool and says the list changed."""

from __future__ import annotations

from bosun import Server

server = Server("growing")
_added: list[str] = []


@server.tool()
def grow() -> str:
    """Add one tool, `extra_<n>`, and tell the listening clients."""
    name = f"extra_{len(_added) + 1}"
    server.add_tool(lambda: name, name=name, description="added at run time")
    _added.append(name)
    server.notify_tools_changed()
    return name
