"""`CatalogSource`: items that come from somewhere other than the server's own functions.

A bridged server's tools, resources and prompts are known only once a child has been asked, and
they change when the child says so. A source keeps its items in the registry itself; the handlers
only ask it, before a list and when a name is not (yet) known, to make sure they are there and
current. With no source configured, the handlers' paths are unchanged.
"""

from __future__ import annotations

from typing import Protocol

from bosun.protocol.call import Call


class CatalogSource(Protocol):
    async def refresh(self, call: Call) -> None:
        """Make the registry hold this source's items as they are now (cheap when nothing changed)."""
