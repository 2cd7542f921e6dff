"""One send per turn of the event loop for what a connection writes.

uvicorn writes a response's head and body with two `write` calls; on a small
response those are two system calls where one would do. This wrapper gathers
the writes of one loop turn and sends them together. It also lets the
connection take a close over (`linger`), to close gracefully while the client
is still sending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class CoalescingTransport:
    """Writes made in one turn of the event loop leave in one send: a response's head and body (two ASGI
    messages, two `write` calls in uvicorn) cost one system call instead of two."""

    __slots__ = ("_transport", "_loop", "_pending", "is_closing", "_linger")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 linger: Callable[[], bool] | None = None) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self.is_closing = transport.is_closing  # asked after every response: bound once, not looked up each time
        self._linger = linger  # asked at close: True when it took the close over (the client is still sending)

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending = self._pending
        if pending:
            self._pending = []
            if not self._transport.is_closing():
                self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        if self._linger is not None and self._linger():
            return
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
