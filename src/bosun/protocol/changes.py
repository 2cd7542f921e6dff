"""Change notifications (list changed, resource updated) fanned out to open streams.

The application publishes; transports subscribe a queue per open stream (a 2025
GET stream or a 2026 `subscriptions/listen` stream) with the filter that stream
asked for. With several replicas, a change bus (`transport.changes_redis`) relays
each replica's changes to the others, which `deliver` them to their own streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeKind = Literal["tools", "prompts", "resources", "resource"]
INTEREST_SECONDS = 2.0  # how long a subscribe waits for a bridged server's upstream subscription before answering

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
    """Delivers changes to this process's open streams, and hands this process's own changes to a relay
    (the change bus) so that streams held by other replicas get them too."""

    def __init__(self) -> None:
        self._listeners: set[Listener] = set()
        self._relay: Callable[[ChangeKind, str | None], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # where streams and the relay live
        self._watchers: list[Callable[[], Awaitable[None] | None]] = []

    def add(self, listener: Listener) -> None:
        self._loop = asyncio.get_running_loop()
        self._listeners.add(listener)
        self.interest_changed()

    def remove(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        self.interest_changed()

    def watch(self, watcher: Callable[[], Awaitable[None] | None]) -> None:
        """Call `watcher` when the streams' interest may have changed (a stream opened or closed, a subscription
        changed): a bridge subscribes upstream to what its streams want, and no more. A watcher may return what
        to await for that to be done (`interest_settled`)."""
        self._watchers.append(watcher)

    def interest_changed(self) -> list[Awaitable[None]]:
        """Tell the watchers; what they return is what acting on it waits for."""
        return [pending for pending in (watcher() for watcher in self._watchers) if pending is not None]

    async def interest_settled(self, seconds: float = INTEREST_SECONDS) -> None:
        """`interest_changed`, then wait up to `seconds` until the watchers have acted on it: a client answered that
        its subscription is in place gets the updates that follow, even from a bridged server subscribed upstream."""
        pending = [asyncio.shield(item) for item in self.interest_changed()]  # a timeout leaves the watchers' work be
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), seconds)

    def wanted_uris(self) -> set[str]:
        """Every resource URI an open stream here wants updates for."""
        wanted: set[str] = set()
        for listener in self._listeners:
            wanted |= listener.uris
        return wanted

    def open_streams(self) -> int:
        """How many streams are open (the transport caps them)."""
        return len(self._listeners)

    def relay_to(self, relay: Callable[[ChangeKind, str | None], None] | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._relay = relay

    def publish(self, kind: ChangeKind, uri: str | None = None) -> int:
        """A change made here: to this process's streams at once, and to the other replicas' through the relay.

        Safe from any thread: a plain `def` tool runs in a worker thread, and the streams' queues belong to
        the event loop, so from elsewhere the change is handed to the loop (and counted there)."""
        loop = self._loop
        if loop is not None and not _on(loop):
            loop.call_soon_threadsafe(self.publish, kind, uri)
            return 0
        delivered = self.deliver(kind, uri)
        if self._relay is not None:
            self._relay(kind, uri)
        return delivered

    def deliver(self, kind: str, uri: str | None = None) -> int:
        """Queue the change for every interested stream here; a full queue (a stuck client) drops it."""
        delivered = 0
        for listener in self._listeners:
            if listener.wants(kind, uri):
                try:
                    listener.queue.put_nowait((kind, uri))
                    delivered += 1
                except asyncio.QueueFull:
                    pass
        return delivered


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


_FILTER_KINDS = {"toolsListChanged": "tools", "promptsListChanged": "prompts", "resourcesListChanged": "resources"}


def listen_filter(wanted: dict[str, Any], capabilities: dict[str, Any]) -> tuple[set[str], set[str], dict[str, Any]]:
    """A `subscriptions/listen` filter, read: (list kinds, resource URIs, the filter as agreed) — only what the
    server offers (its capabilities) is agreed, whatever the client asked for."""
    kinds = {kind for key, kind in _FILTER_KINDS.items() if wanted.get(key) is True and kind in capabilities}
    raw = wanted.get("resourceSubscriptions")
    uris = {uri for uri in raw if type(uri) is str} if type(raw) is list and "resources" in capabilities else set()
    agreed: dict[str, Any] = {key: True for key, kind in _FILTER_KINDS.items() if kind in kinds}
    if uris:
        agreed["resourceSubscriptions"] = sorted(uris)
    return kinds, uris, agreed
