"""Answering a POST: a single JSON body, or an SSE stream once there is more than one message.

A handler that only returns a result gets a plain `application/json` response:
the fast path. The first notification or client request it sends before its
result upgrades the response to `text/event-stream`; the result then closes the
stream. While a stream is open, a watcher notices the client hanging up and
cancels the handler (closing the stream is how a client cancels, in 2026-07-28).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from bosun.asgi import JSON_HEADERS
from bosun.protocol.changes import Listener
from bosun.protocol.liveness import set_watcher
from bosun.protocol.observe import Observer
from bosun.types import Receive, Send

SSE_HEADERS = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
)


def sse_event(data: bytes, event_id: str | None = None) -> bytes:
    if event_id is None:
        return b"event: message\ndata: " + data + b"\n\n"
    return b"id: " + event_id.encode() + b"\nevent: message\ndata: " + data + b"\n\n"


async def wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def pump_changes(receive: Receive, send: Send, listener: Listener, render: Callable[[str, str | None], bytes],
                       keepalive: float, closing: asyncio.Event) -> bool:
    """Write each change `listener` receives as an SSE event until the client leaves or the server closes.

    Sends a comment line every `keepalive` seconds of silence so proxies keep the
    stream open. Returns True when it ended because the server is closing.
    """
    disconnected = asyncio.ensure_future(wait_disconnect(receive))
    shutdown = asyncio.ensure_future(closing.wait())
    try:
        while True:
            getter = asyncio.ensure_future(listener.queue.get())
            done, _ = await asyncio.wait({getter, disconnected, shutdown}, timeout=keepalive,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
            if disconnected in done:
                return False
            if shutdown in done:
                return True
            if not done:
                await send({"type": "http.response.body", "body": b":\n\n", "more_body": True})
                continue
            kind, uri = getter.result()
            await send({"type": "http.response.body", "body": render(kind, uri), "more_body": True})
    finally:
        disconnected.cancel()
        shutdown.cancel()


_RETRY_SOON = ((b"retry-after", b"1"),)


def retry_after(error: Exception) -> int:
    """The Retry-After a failure asks for (`retry_after` on it, in seconds), at least 1."""
    return max(1, round(getattr(error, "retry_after", 1)))


class Reply:
    """The response to one POST, JSON until a second message forces a stream."""

    __slots__ = ("_send", "_receive", "_headers", "_event_prefix", "_events", "streaming", "_watcher", "disconnected",
                 "_observer", "retry_after")

    def __init__(self, send: Send, receive: Receive, headers: tuple[tuple[bytes, bytes], ...] = (),
                 event_prefix: str | None = None, observer: Observer | None = None) -> None:
        self._observer = observer
        self._send = send
        self._receive = receive
        self._headers = headers
        self._event_prefix = event_prefix  # 2025 sessions number their events; 2026 streams have no ids
        self._events = 0
        self.streaming = False
        self._watcher: asyncio.Task[None] | None = None
        self.disconnected = False
        self.retry_after = 1  # seconds, on a 503: what the failure said (an open breaker's cool-down), else 1
        set_watcher(self.watch)

    def watch(self) -> None:
        """From now on, the client disconnecting cancels the task serving this request."""
        if self._watcher is None:
            task = asyncio.current_task()
            if task is not None:
                self._watcher = asyncio.create_task(self._watch(task))

    async def _start_stream(self) -> None:
        self.streaming = True
        if self._observer is not None:
            self._observer.stream(1)
        await self._send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + self._headers})
        self.watch()

    async def _watch(self, task: asyncio.Task[Any]) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                task.cancel()
                return

    def _next_id(self) -> str | None:
        if self._event_prefix is None:
            return None
        self._events += 1
        return f"{self._event_prefix}-{self._events}"

    async def message(self, message: dict[str, Any]) -> None:
        """Send a notification or a client request related to this POST's request."""
        if self.disconnected:
            return
        if not self.streaming:
            await self._start_stream()
        body = sse_event(orjson.dumps(message), self._next_id())
        await self._send({"type": "http.response.body", "body": body, "more_body": True})

    async def finish(self, status: int, body: bytes) -> None:
        """Send the final response: the whole body, or the last event of the stream."""
        if self.disconnected:
            return
        if not self.streaming:
            if self._watcher is not None:
                self._watcher.cancel()
            headers = JSON_HEADERS + self._headers if body else self._headers
            if status == 503:  # a dependency is unavailable or busy: the client may retry
                headers += _RETRY_SOON if self.retry_after == 1 else ((b"retry-after", str(self.retry_after).encode()),)
            await self._send({"type": "http.response.start", "status": status, "headers": headers})
            await self._send({"type": "http.response.body", "body": body})
            return
        if self._watcher is not None:
            self._watcher.cancel()
        await self._send({"type": "http.response.body", "body": sse_event(body, self._next_id()), "more_body": False})

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self.streaming and self._observer is not None:
            self._observer.stream(-1)
