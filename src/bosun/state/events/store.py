"""Where the events of a 2025 session's POST streams are kept, so a client can resume one.

A 2025-11-25 client whose stream was cut (a proxy timeout, a replica gone, or the
server closing a long call's stream on purpose, the spec's polling pattern) sends
a GET with `Last-Event-ID`; the transport replays what followed that event on
the same stream and goes on with the rest. Event ids are `<stream key>-<number>`,
so an id names its stream and nothing else (the spec forbids replaying another
stream's messages).

`EventStore` is the seam; `memory.MemoryEventStore` keeps streams in this process,
bounded: at most `max_streams` streams (the oldest go first), `max_events` per
stream (a client that fell further behind gets a clear "expired"), and a finished
stream for `max_age` seconds. `redis_store.RedisEventStore` keeps them in
Redis streams, so a client resumes on any replica.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventStore(Protocol):
    async def open(self, session_id: str, request_id: Any = None) -> str:
        """A new stream of `session_id` (answering `request_id`); returns its key."""
        ...

    async def append(self, key: str, data: bytes, final: bool = False) -> int:
        """Keep one event; returns its number (the final one ends the stream)."""
        ...

    async def after(self, session_id: str, key: str, number: int) -> tuple[list[tuple[int, bytes]], bool] | None:
        """The events after `number` and whether the stream has ended; None if unknown, expired or not this session's.
        Raises a retryable `McpError` (HTTP 503) when the store cannot be asked now: the events may well be there,
        and a 404 would have the client send its request again, running a tool call twice."""
        ...

    async def wait(self, key: str, after: int, timeout: float) -> None:
        """Return when the stream may have events after number `after`, or after `timeout`."""
        ...

    async def abandoned(self, key: str) -> Any:
        """If the replica writing this unfinished stream is gone, the id of the request it was answering
        (the stream will never end by itself); otherwise None."""
        ...

    async def close(self) -> None:
        """Let go of connections at shutdown (nothing to do in memory)."""
        ...
