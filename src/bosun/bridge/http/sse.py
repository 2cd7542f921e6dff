"""Server-sent events read from an HTTP response, with every line and event bounded.

The remote decides how much it sends; the bridge decides how much it holds: a line or an event's data
over `limit` ends the stream with `TooLarge` (the stdio side's `max_line_bytes`, the same bound). Lines
end with LF or CRLF (what every MCP server writes); a lone CR is not taken as a line end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


class TooLarge(Exception):
    """The remote sent a line, event or body over the bridge's limit."""


@dataclass(slots=True)
class Event:
    data: str
    id: str | None
    retry: float | None  # seconds, from a `retry:` field


async def events(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[Event]:
    buffer = bytearray()
    data: list[str] = []
    size = 0
    event_id: str | None = None
    retry: float | None = None
    async for chunk in chunks:
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > limit:
                    raise TooLarge("a line of the event stream is over the limit")
                break
            line = bytes(buffer[:end]).rstrip(b"\r").decode("utf-8", "replace")
            del buffer[:end + 1]
            if not line:
                if data or event_id is not None:
                    yield Event("\n".join(data), event_id, retry)
                data, size, event_id, retry = [], 0, None, None
                continue
            if line.startswith(":"):
                continue  # a comment: a keep-alive
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                size += len(value) + 1
                if size > limit:
                    raise TooLarge("an event of the stream is over the limit")
                data.append(value)
            elif field == "id" and "\0" not in value:
                event_id = value
            elif field == "retry" and value.isdigit():
                retry = int(value) / 1000
    if data:
        yield Event("\n".join(data), event_id, retry)


async def body(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """A whole response body, or `TooLarge`."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge("the response body is over the limit")
        parts.append(chunk)
    return b"".join(parts)
