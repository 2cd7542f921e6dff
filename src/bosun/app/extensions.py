"""`Extension`: an MCP extension served beside the core methods (skills, MCP Apps, tasks).

An extension is a package of its own (bosun/skills/, bosun/apps/, ...). It reaches the server through
this seam only: the identifier and settings it declares under `capabilities.extensions` (in both eras:
a 2025 `initialize` answer and a 2026-07-28 `server/discover` carry the same capabilities), and the
methods it adds to the handlers' tables. Its items (resources, tools) go into the registry like any
other, so scopes, the audit trail and metrics apply to them unchanged. An extension whose methods
need what the core methods use (the page size, the cache hints, whether lists hide what a caller may
not use) has a `bind(handlers)` method, called before its methods are taken. An extension that streams
notifications of its own on a 2026-07-28 `subscriptions/listen` stream (tasks: `notifications/tasks`) has a
`listen(call, wanted)` method (`ListenHook`); the transports hold no extension's code, only `open_feeds`. With no
extension registered, nothing here runs.

SEP-2133 places each extension's settings object directly under its identifier in
`capabilities.extensions` (no envelope), which SEP-2640 and the official conformance suite check;
an extension with no optional features declares `{}`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bosun.protocol.call import Call

if TYPE_CHECKING:
    from bosun.app.handlers import Handlers

Method = Callable[[Call], Awaitable[dict[str, Any]]]
Notify = Callable[[str, dict[str, Any]], None]
"""How a feed hands the transport one notification (method, params): queued at once, never awaited; the transport
adds the stream's `_meta` (its subscription id) and writes it after the acknowledgement."""


class ListenFeed(Protocol):
    """What one extension streams on one `subscriptions/listen` request, from its acknowledgement to its end."""

    agreed: dict[str, Any]
    """The filter keys it agreed to, merged into the acknowledgement's `params.notifications` ({"taskIds": [...]})."""

    def start(self, notify: Notify) -> None:
        """The acknowledgement is out: from now on, send through `notify`."""

    def close(self) -> None:
        """The stream ended (or never started): stop, and forget it."""


ListenHook = Callable[[Call, dict[str, Any]], Awaitable[ListenFeed | None]]
"""`extension.listen(call, wanted)`: the listen request (its `_meta` declared capabilities, its principal) and its
`params.notifications`. None when `wanted` has no key of the extension's; an `McpError` refuses the whole request
before anything is streamed (a key it knows, asked for without declaring the extension: -32021)."""


class Extension(Protocol):
    name: str
    """Its identifier, as the specification names it ("io.modelcontextprotocol/skills")."""

    def settings(self) -> dict[str, Any]:
        """What the server declares for it under `capabilities.extensions[name]` ({} when it has nothing to say)."""
        ...

    def methods(self) -> dict[str, Method]:
        """The MCP methods it adds ("skills/list" -> handler), served in both eras."""
        ...


def declare(extensions: Sequence[Extension], capabilities: dict[str, Any]) -> None:
    if extensions:
        declared = capabilities.setdefault("extensions", {})
        for extension in extensions:
            declared[extension.name] = extension.settings()


def install(extensions: Sequence[Extension], handlers: Handlers) -> None:
    """Add each extension's methods to both tables; one may not replace a core method or another's."""
    modern, legacy = handlers.modern, handlers.legacy
    for extension in extensions:
        bind = getattr(extension, "bind", None)
        if bind is not None:
            bind(handlers)
        listen = getattr(extension, "listen", None)
        if listen is not None:
            handlers.listen_hooks.append(listen)
        for method, handler in extension.methods().items():
            if method in modern or method in legacy:
                raise ValueError(f"extension {extension.name}: {method} is already served")
            modern[method] = legacy[method] = handler


async def open_feeds(hooks: Sequence[Callable[[Call, dict[str, Any]], Awaitable[Any]]], call: Call,
                     wanted: dict[str, Any], agreed: dict[str, Any]) -> list[ListenFeed]:
    """Each extension's feed for this listen request, its agreed keys added to `agreed` (the acknowledgement's).

    Run before the stream opens, so an extension's refusal is the request's error response; if one refuses,
    those already opened are closed."""
    feeds: list[ListenFeed] = []
    try:
        for hook in hooks:
            feed: ListenFeed | None = await hook(call, wanted)
            if feed is not None:
                feeds.append(feed)
                agreed.update(feed.agreed)
    except BaseException:
        close_feeds(feeds)
        raise
    return feeds


def close_feeds(feeds: Sequence[ListenFeed]) -> None:
    for feed in feeds:
        with contextlib.suppress(Exception):  # one extension's failure must not keep the others' feeds open
            feed.close()
