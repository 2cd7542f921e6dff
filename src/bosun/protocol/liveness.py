"""Whether the client of the request being served is still there.

Work that should not outlive its client (a database transaction, chiefly: a write
whose client gave up must not be committed) calls `watch_client()`. The transport
then watches the connection and cancels the request's handler if the client goes
away, so the work is rolled back. Watching costs a task per request, so it starts
only when something asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

_watcher: ContextVar[Callable[[], None] | None] = ContextVar("bosun_client_watcher", default=None)


def set_watcher(start: Callable[[], None]) -> None:
    """The transport's hook: `start()` begins watching this request's connection (idempotent)."""
    _watcher.set(start)


def watch_client() -> None:
    """Cancel the current request's handler if its client disconnects (no-op outside a request)."""
    start = _watcher.get()
    if start is not None:
        start()
