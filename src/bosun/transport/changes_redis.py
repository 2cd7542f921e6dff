"""The change bus across replicas: Redis pub/sub.

A change published on one replica (a tool changed the tool list, a resource was
updated) must reach every stream subscribed to it, whichever replica holds the
stream: 2025 GET streams and 2026-07-28 `subscriptions/listen` streams alike. Each
replica delivers its own changes to its own streams at once (`ChangeHub.publish`)
and relays them on one channel; every replica listens and delivers the others'.

The bus also carries session changes that a replica holding a session's GET stream
must see at once: a `resources/subscribe` handled on another replica updates the
subscriptions that stream filters by, so they are never a stale copy.

Pub/sub is at-most-once: while Redis is unreachable, changes reach only the
replica they happened on (logged, at most once per 30 s), and the bus reconnects
by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import orjson

from bosun.ops.logs import Throttled
from bosun.protocol.changes import ChangeHub, ChangeKind

log = logging.getLogger("bosun.changes")
SessionRefresh = Callable[[str, list[str]], None]


class RedisChangeBus:
    def __init__(self, url: str, channel: str, hub: ChangeHub, refresh_session: SessionRefresh | None = None) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url, socket_connect_timeout=1.0, health_check_interval=15)
        self.channel = channel
        self.hub = hub
        self.refresh_session = refresh_session
        self.origin = secrets.token_hex(6)  # this replica: its own messages come back and are skipped
        self._warn = Throttled(log)
        self._listener: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self.hub.relay_to(self.relay)
        self._listener = asyncio.create_task(self._listen())

    async def close(self) -> None:
        self.hub.relay_to(None)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        for task in list(self._sending):
            with contextlib.suppress(Exception):
                await task
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # Sending.
    def relay(self, kind: ChangeKind, uri: str | None) -> None:
        self._post({"k": kind, "u": uri})

    def session_changed(self, session_id: str, subscriptions: list[str]) -> None:
        self._post({"k": "session", "s": session_id, "subs": subscriptions})

    def _post(self, payload: dict[str, Any]) -> None:
        payload["o"] = self.origin
        try:
            task = asyncio.get_running_loop().create_task(self._publish(orjson.dumps(payload)))
        except RuntimeError:
            return  # no event loop (a change made at import time): nobody can be listening yet
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish(self, data: bytes) -> None:
        try:
            await self.redis.publish(self.channel, data)
        except Exception as exc:
            self._warn.warning("change bus: could not publish (%s); other replicas miss this change", type(exc).__name__)

    # Receiving.
    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None:
                        self._received(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                self._warn.warning("change bus: lost Redis (%s); changes from other replicas resume when it is back",
                                   type(exc).__name__)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _received(self, data: Any) -> None:
        try:
            message = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return
        if type(message) is not dict or message.get("o") == self.origin:
            return
        kind = message.get("k")
        if kind == "session":
            subscriptions = message.get("subs")
            if self.refresh_session is not None and type(message.get("s")) is str and type(subscriptions) is list:
                self.refresh_session(message["s"], [uri for uri in subscriptions if type(uri) is str])
        elif kind in ("tools", "prompts", "resources", "resource"):
            uri = message.get("u")
            self.hub.deliver(kind, uri if type(uri) is str else None)
