"""What the runners need of a server: the seam that keeps them below `bosun.server`.

`bosun serve`, `bosun dev`, `bosun check`, `bosun db` and `Server.run()` load a target and
run it; `Server.run()` in turn calls the runners. If the runners imported `Server`, the two
would import each other. They depend on this protocol instead, which `Server` satisfies
(checked by mypy in server.py), and the dependency points one way: server -> runners.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, Protocol, runtime_checkable


@runtime_checkable
class Servable(Protocol):
    """A Bosun server, as loaders and runners see it: only what a freshly built `Server` already has, so
    `isinstance(value, Servable)` tells a server from the other things a module may hold."""

    name: str
    migrations: Any
    on_startup: list[Callable[[], Awaitable[None]]]
    on_shutdown: list[Callable[[], Awaitable[None]]]

    def asgi_app(self, options: Any = None, *, settings: Any = None, store: Any = None, state_keys: Any = None,
                 routes: Any = None) -> Any: ...

    async def serve_stdio(self, settings: Any = None, source: BinaryIO | None = None,
                          output: BinaryIO | None = None) -> None: ...
