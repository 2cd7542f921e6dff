"""`CallRelay` over Redis: a pub/sub channel per replica, and a key per claim.

`send` is a PUBLISH to the holder's channel; Redis answers with how many subscribers received it,
which is how a message for a replica that has died is known at once (0) rather than by a timeout.
A claim is `SET NX` with a TTL this replica renews while it holds the key. A claim whose holder no
longer listens is not taken over: what it held (a session's child and its state) died with it, so
the key is marked gone for a day and its requests get a clear error instead of a fresh child that
silently forgot everything. A replica that stops cleanly releases its claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import orjson

from bosun.ops.logs import Throttled
from bosun.state.pubsub import listen_forever
from bosun.state.relay.relay import Handler

log = logging.getLogger("bosun.relay")
CLAIM_SECONDS = 30
TOMBSTONE_SECONDS = 86_400
GONE = "gone:"


class RedisCallRelay:
    def __init__(self, url: str, namespace: str) -> None:
        from bosun.data.redis_client import redis_client

        self.redis = redis_client(url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=15)
        self.replica = secrets.token_hex(8)
        self.prefix = f"{namespace}:relay"
        self._handler: Handler | None = None
        self._listener: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._held: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._warn = Throttled(log)
        self.subscribed = asyncio.Event()

    def _channel(self, replica: str) -> str:
        return f"{self.prefix}:{{{replica}}}"

    def _claim_key(self, key: str) -> str:
        return f"{self.prefix}:claim:{{{key}}}"

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
            self._renewer = asyncio.create_task(self._renew())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.subscribed.wait(), 5.0)

    async def _listen(self) -> None:
        await listen_forever(self.redis, self._channel(self.replica), self._deliver, self._subscribed, self._warn,
                             "relay: lost Redis (%s); work held by other replicas is unreachable until it is back")

    def _subscribed(self, on: bool) -> None:
        if on:
            self.subscribed.set()
        else:
            self.subscribed.clear()

    def _deliver(self, data: Any) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if type(message) is not dict or self._handler is None:
            return
        task: asyncio.Task[None] = asyncio.ensure_future(self._handler(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, replica: str, message: dict[str, Any]) -> bool:
        try:
            receivers = await self.redis.publish(self._channel(replica), orjson.dumps(message))
        except Exception as failure:
            self._warn.warning("relay: could not reach Redis (%s)", type(failure).__name__)
            return False
        return bool(receivers)

    async def alive(self, replica: str) -> bool:
        try:
            counts = await self.redis.pubsub_numsub(self._channel(replica))
        except Exception:
            return True  # Redis is unreachable: say nothing about the replica (the call's own timeout still applies)
        return any(count for _, count in counts)

    async def claim(self, key: str) -> str:
        name = self._claim_key(key)
        if await self.redis.set(name, self.replica, nx=True, ex=CLAIM_SECONDS):
            self._held.add(key)
            return self.replica
        found = await self.redis.get(name)
        holder = found.decode() if isinstance(found, bytes) else str(found or "")
        if holder == self.replica:
            self._held.add(key)
            return holder
        if not holder.startswith(GONE) and holder and not await self.alive(holder):
            # Its holder died, and the work it held (a child's state) with it. The key keeps saying so, so the
            # key's next requests are told plainly rather than served by a new child that silently lost it all.
            holder = f"{GONE}{holder}"
            await self.redis.set(name, holder, ex=TOMBSTONE_SECONDS)
        return holder or self.replica

    async def release(self, key: str) -> None:
        if key not in self._held:
            return
        self._held.discard(key)
        name = self._claim_key(key)
        with contextlib.suppress(Exception):
            holder = await self.redis.get(name)
            if holder is not None and (holder.decode() if isinstance(holder, bytes) else str(holder)) == self.replica:
                await self.redis.delete(name)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(CLAIM_SECONDS / 3)
            for key in list(self._held):
                with contextlib.suppress(Exception):
                    await self.redis.expire(self._claim_key(key), CLAIM_SECONDS)

    async def close(self) -> None:
        for task in (self._listener, self._renewer):
            if task is not None:
                task.cancel()
        for key in list(self._held):
            await self.release(key)
        with contextlib.suppress(Exception):
            await self.redis.aclose()
