"""`Directory`: a directory resource, whose children `resources/directory/read` lists (SEP-2640).

A directory is a resource with MIME type `inode/directory`. It is not read (it has no contents) and
is left out of `resources/list`; it is kept in the registry beside the resources so that the gate
finds the scopes listing it needs, exactly as it finds a resource's. An extension that serves a
tree of files (skills) builds these; the registry only holds them.
"""

from __future__ import annotations

from typing import Any

DIRECTORY_MIME_TYPE = "inode/directory"


class Directory:
    """One directory level: its own `Resource` definition, and its direct children (files and directories)."""

    __slots__ = ("uri", "definition", "children", "scopes")
    hidden = True
    """Never in `resources/list`: directory resources are addressable whether listed or not."""

    def __init__(self, uri: str, name: str, scopes: frozenset[str] = frozenset()) -> None:
        self.uri = uri
        self.definition: dict[str, Any] = {"uri": uri, "name": name, "mimeType": DIRECTORY_MIME_TYPE}
        self.children: dict[str, Any] = {}
        """Child URI -> the child's registry item (a `Resource` or a `Directory`): each has `definition` and `scopes`."""
        self.scopes = scopes
        """What listing it needs: what its children need in common (a caller who may read none of them learns nothing)."""
