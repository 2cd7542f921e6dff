"""`Extension`: an MCP extension served beside the core methods (skills, MCP Apps, tasks).

An extension is a package of its own (bosun/skills/, bosun/apps/, ...). It reaches the server through
this seam only: the identifier and settings it declares under `capabilities.extensions` (in both eras:
a 2025 `initialize` answer and a 2026-07-28 `server/discover` carry the same capabilities), and the
methods it adds to the handlers' tables. Its items (resources, tools) go into the registry like any
other, so scopes, the audit trail and metrics apply to them unchanged. An extension whose methods
need what the core methods use (the page size, the cache hints, whether lists hide what a caller may
not use) has a `bind(handlers)` method, called before its methods are taken. With no extension
registered, nothing here runs.

SEP-2133 places each extension's settings object directly under its identifier in
`capabilities.extensions` (no envelope), which SEP-2640 and the official conformance suite check;
an extension with no optional features declares `{}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bosun.protocol.call import Call

if TYPE_CHECKING:
    from bosun.app.handlers import Handlers

Method = Callable[[Call], Awaitable[dict[str, Any]]]


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
        for method, handler in extension.methods().items():
            if method in modern or method in legacy:
                raise ValueError(f"extension {extension.name}: {method} is already served")
            modern[method] = legacy[method] = handler
