"""Change notifications (list changed, resource updated) fanned out to open streams.

The application publishes; transports subscribe a queue per open stream (a 2025
GET stream or a 2026 `subscriptions/listen` stream) with the filter that stream
asked for. Process-local: a later Redis-backed hub plugs in behind the same two
methods so changes reach streams held by other replicas.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

ChangeKind = Literal["tools", "prompts", "resources", "resource"]

LIST_CHANGED_METHOD: dict[str, str] = {
    "tools": "notifications/tools/list_changed",
    "prompts": "notifications/prompts/list_changed",
    "resources": "notifications/resources/list_changed",
}


@dataclass(eq=False, slots=True)
class Listener:
    """One open stream's interest: which list changes, which resource URIs."""

    kinds: set[str]
    uris: set[str]
    queue: asyncio.Queue[tuple[str, str | None]] = field(default_factory=lambda: asyncio.Queue(maxsize=1024))

    def wants(self, kind: str, uri: str | None) -> bool:
        if kind == "resource":
            return uri in self.uris
        return kind in self.kinds


class ChangeHub:
    def __init__(self) -> None:
        self._listeners: set[Listener] = set()

    def add(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def remove(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def open_streams(self) -> int:
        """How many streams are open (the transport caps them)."""
        return len(self._listeners)

    def publish(self, kind: ChangeKind, uri: str | None = None) -> int:
        """Queue the change for every interested stream; a full queue (a stuck client) drops it."""
        delivered = 0
        for listener in self._listeners:
            if listener.wants(kind, uri):
                try:
                    listener.queue.put_nowait((kind, uri))
                    delivered += 1
                except asyncio.QueueFull:
                    pass
        return delivered
