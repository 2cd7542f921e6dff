"""Reading requests at the ASGI level (the answers are `bosun.asgi`'s).

Deliberately below any framework: one pass over the raw header list, one body
read with a size cap.
"""

from __future__ import annotations

from typing import Any

from bosun.types import Receive, Scope

_WANTED = frozenset(
    {
        b"content-type",
        b"accept",
        b"origin",
        b"host",
        b"content-length",
        b"mcp-protocol-version",
        b"mcp-method",
        b"mcp-name",
        b"mcp-session-id",
        b"last-event-id",
        b"traceparent",
        b"authorization",
        b"x-api-key",
    }
)


# Headers that must appear at most once: with two, one reader (a proxy, a gateway, a log) may take the first while
# Bosun would take the last. Two credentials are ambiguous (RFC 6750 3.1: invalid_request, 400), two Host lines are
# a 400 by RFC 9112 3.2, and two session ids, protocol versions, methods or names would let whoever routes, audits
# or filters on the header see a different request than the one Bosun serves.
SINGLE = (b"authorization", b"x-api-key", b"host", b"mcp-session-id", b"mcp-protocol-version", b"mcp-method", b"mcp-name")


class Headers:
    """The request headers the transport looks at, decoded once.

    `repeated` names a header of `SINGLE` that came more than once (the transport answers 400). Finding it costs
    one addition per header read; the raw list is searched again only when some header came twice.
    """

    __slots__ = ("values", "params", "repeated")

    def __init__(self, scope: Scope) -> None:
        values: dict[bytes, str] = {}
        params: dict[str, str] | None = None
        seen = 0
        raw = scope["headers"]
        for name, raw_value in raw:  # ASGI servers give lower-case names
            # RFC 9110 5.5: optional whitespace around a field value is not part of it.
            if name in _WANTED:
                values[name] = raw_value.decode("latin-1").strip(" \t")
                seen += 1
            elif name.startswith(b"mcp-param-"):
                if params is None:
                    params = {}
                params[name[10:].decode("latin-1")] = raw_value.decode("latin-1").strip(" \t")
        self.values = values
        self.params = params
        self.repeated = _repeated(raw) if seen != len(values) else None

    def get(self, name: bytes) -> str | None:
        return self.values.get(name)


def _repeated(raw: Any) -> str | None:
    """The first header of `SINGLE` that appears more than once, or None (a repeated Accept is a list, and fine)."""
    names = [name for name, _ in raw]
    for name in SINGLE:
        if names.count(name) > 1:
            return name.decode()
    return None


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def accepts(accept: str | None, json: bool, sse: bool) -> bool:
    """Whether an Accept header covers the media types this response may use."""
    if accept is None:
        return False
    accept = accept.lower()
    wildcard = "*/*" in accept
    if json and not (wildcard or "application/json" in accept or "application/*" in accept):
        return False
    return not sse or wildcard or "text/event-stream" in accept or "text/*" in accept

