"""Resumable streams' events in this process's memory: the default event store, bounded (see `store`)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class _Stream:
    session_id: str
    first: int = 1  # the number of the oldest event kept
    events: list[bytes] = field(default_factory=list)
    done: bool = False
    touched: float = field(default_factory=time.monotonic)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryEventStore:
    def __init__(self, max_streams: int = 10_000, max_events: int = 1_000, max_age: float = 300.0) -> None:
        self.max_streams = max_streams
        self.max_events = max_events
        self.max_age = max_age
        self._streams: dict[str, _Stream] = {}  # oldest first

    async def open(self, session_id: str, request_id: Any = None) -> str:
        self._prune()
        key = secrets.token_hex(8)
        self._streams[key] = _Stream(session_id)
        return key

    async def append(self, key: str, data: bytes, final: bool = False) -> int:
        stream = self._streams.get(key)
        if stream is None:
            return 0  # pruned: the live stream still gets the event; only a resume would miss it
        stream.events.append(data)
        if len(stream.events) > self.max_events:
            del stream.events[0]
            stream.first += 1
        stream.done = stream.done or final
        stream.touched = time.monotonic()
        stream.changed.set()
        stream.changed = asyncio.Event()
        return stream.first + len(stream.events) - 1

    async def after(self, session_id: str, key: str, number: int) -> tuple[list[tuple[int, bytes]], bool] | None:
        stream = self._streams.get(key)
        if stream is None or stream.session_id != session_id or number < stream.first - 1:
            return None
        start = number + 1 - stream.first
        return [(stream.first + index, data) for index, data in enumerate(stream.events) if index >= start], stream.done

    async def wait(self, key: str, after: int, timeout: float) -> None:
        stream = self._streams.get(key)
        if stream is None or stream.done or stream.first + len(stream.events) - 1 > after:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stream.changed.wait(), timeout)

    async def close(self) -> None:
        """Nothing to let go of: the streams go with the process."""

    async def abandoned(self, key: str) -> Any:
        return None  # the writer is this process: alive as long as this store is

    def _prune(self) -> None:
        cutoff = time.monotonic() - self.max_age
        while self._streams:
            key, oldest = next(iter(self._streams.items()))
            if len(self._streams) < self.max_streams and not (oldest.done and oldest.touched < cutoff):
                break
            del self._streams[key]
