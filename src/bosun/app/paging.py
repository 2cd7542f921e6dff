"""The opaque cursor every list of a server uses: a position in the list, base64-encoded.

Shared by the core lists (`handlers`) and the extensions' (`skills/list`, `resources/directory/read`), so a
client's cursor means the same everywhere and a bad one is refused the same way.
"""

from __future__ import annotations

import base64
from typing import Any

from bosun.protocol.errors import invalid_params


def cursor_offset(params: dict[str, Any]) -> int:
    cursor = params.get("cursor")
    if cursor is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(str(cursor).encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise invalid_params("Invalid cursor") from None
    if offset < 0:
        raise invalid_params("Invalid cursor")
    return offset


def next_cursor(end: int) -> str:
    return base64.urlsafe_b64encode(str(end).encode()).decode()


def page(params: dict[str, Any], key: str, items: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """`items` from the cursor's position, at most `size`, with the next cursor when more follow."""
    offset = cursor_offset(params)
    end = offset + size
    result: dict[str, Any] = {key: items[offset:end] if offset or end < len(items) else items}
    if end < len(items):
        result["nextCursor"] = next_cursor(end)
    return result
