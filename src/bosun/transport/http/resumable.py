"""Resumable POST streams for 2025-11-25 sessions: priming events, `retry`, and resuming on GET.

As the 2025-11-25 transport describes: a POST's SSE stream opens with a priming
event (an id and empty data) carrying a `retry` delay, every event has an id and
is kept in the event store, and the server may end the HTTP response early (a long
call, `Context.close_stream()`), leaving the client to reconnect with a GET and
`Last-Event-ID`. The call goes on meanwhile; what it sends is kept, and the GET
replays it and then follows the stream to its result.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from bosun.asgi import JSON_HEADERS, respond, respond_store_error
from bosun.protocol.errors import INTERNAL_ERROR, INVALID_REQUEST, McpError
from bosun.protocol.jsonrpc import error_bytes
from bosun.protocol.observe import Observer
from bosun.state.events.store import EventStore
from bosun.transport.http.sse import SSE_HEADERS, Reply, sse_event, wait_disconnect
from bosun.types import Receive, Send

RESUMABLE_VERSIONS = frozenset({"2025-11-25"})
_WRITER_CHECK = 2.0  # while following a stream with nothing new, how often to check that its writer lives


def prefers_stream(accept: str | None) -> bool:
    """The client lists text/event-stream before application/json: answer with a stream from the start.

    Bosun's default is a plain JSON body when a request has a single answer (the fast path); a client
    that puts SSE first asks for a stream, and then gets the resumable one.
    """
    if not accept:
        return False
    accept = accept.lower()
    sse, json = accept.find("text/event-stream"), accept.find("application/json")
    return sse >= 0 and (json < 0 or sse < json)


class ResumableReply(Reply):
    __slots__ = ("_store", "_session_id", "_retry_ms", "_key", "attached", "_request_id")

    def __init__(self, send: Send, receive: Receive, headers: tuple[tuple[bytes, bytes], ...], store: EventStore,
                 session_id: str, retry_ms: int, observer: Observer | None = None, request_id: Any = None) -> None:
        super().__init__(send, receive, headers, observer=observer)
        self._request_id = request_id
        self._store = store
        self._session_id = session_id
        self._retry_ms = retry_ms
        self._key = ""
        self.attached = True  # the POST's own response is still open

    async def _start_stream(self) -> None:
        await super()._start_stream()
        self._key = await self._store.open(self._session_id, self._request_id)
        priming = b"id: %s-0\nretry: %d\ndata: \n\n" % (self._key.encode(), self._retry_ms)
        await self._send({"type": "http.response.body", "body": priming, "more_body": True})

    def watch(self) -> None:
        """Once the response has ended on purpose, nobody is left to watch: the call must go on."""
        if self.attached:
            super().watch()

    async def start(self) -> None:
        """Open the stream now (the client asked for one), priming event first."""
        if not self.streaming:
            await self._start_stream()

    async def message(self, message: dict[str, Any]) -> None:
        if self.disconnected:
            return
        if not self.streaming:
            await self._start_stream()
        data = orjson.dumps(message)
        number = await self._store.append(self._key, data)
        if self.attached:
            await self._send({"type": "http.response.body", "body": sse_event(data, f"{self._key}-{number}"), "more_body": True})

    async def finish(self, status: int, body: bytes) -> None:
        if not self.streaming:
            await super().finish(status, body)
            return
        number = await self._store.append(self._key, body, final=True)
        if self.attached and not self.disconnected:
            if self._watcher is not None:
                self._watcher.cancel()
            await self._send({"type": "http.response.body", "body": sse_event(body, f"{self._key}-{number}"), "more_body": False})

    async def close_stream(self) -> bool:
        """End the POST's response now; the call goes on and the client resumes with GET + Last-Event-ID."""
        if self.disconnected or not self.attached:
            return False
        await self.start()
        if self._watcher is not None:
            self._watcher.cancel()  # the response ending is not the client leaving
            self._watcher = None
        self.attached = False
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        return True


def parse_event_id(value: str) -> tuple[str, int] | None:
    key, _, number = value.rpartition("-")
    if not key or not number.isdigit():
        return None
    return key, int(number)


async def resume(send: Send, receive: Receive, store: EventStore, session_id: str, last_event_id: str,
                 headers: tuple[tuple[bytes, bytes], ...], keepalive: float) -> None:
    """GET with `Last-Event-ID`: replay what followed that event on its stream, then follow it to the end."""
    parsed = parse_event_id(last_event_id)
    try:
        found = await store.after(session_id, *parsed) if parsed is not None else None
    except McpError as unavailable:  # the store cannot be asked now: retry the resume, not the request
        await respond_store_error(send, unavailable, headers=headers)
        return
    if parsed is None or found is None:
        error = McpError(INVALID_REQUEST, "Not Found: unknown or expired Last-Event-ID for this session; send the request again")
        await respond(send, 404, error_bytes(None, error), JSON_HEADERS + headers)
        return
    key, number = parsed
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + headers})
    gone = asyncio.ensure_future(wait_disconnect(receive))
    try:
        events, done = found
        while True:
            for number, data in events:
                await send({"type": "http.response.body", "body": sse_event(data, f"{key}-{number}"), "more_body": True})
            if done:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            waiter = asyncio.ensure_future(store.wait(key, number, min(keepalive, _WRITER_CHECK)))
            await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                waiter.cancel()
                return
            try:
                found = await store.after(session_id, key, number)
            except McpError:  # the store cannot be asked now: end here; the client resumes from its last event
                found = None
            if found is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            events, done = found
            if not events and not done:
                request_id = await store.abandoned(key)
                if request_id is not None:  # the replica running the call is gone: say so, never hang
                    lost = McpError(INTERNAL_ERROR, "The server instance running this request stopped before it "
                                                    "finished; send the request again")
                    await send({"type": "http.response.body", "body": sse_event(error_bytes(request_id, lost)),
                                "more_body": False})
                    return
                await send({"type": "http.response.body", "body": b":\n\n", "more_body": True})
    finally:
        gone.cancel()
