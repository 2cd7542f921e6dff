"""Resumable streams across replicas: each POST stream's events in a Redis stream.

The replica running a call is the only writer of its stream: it numbers the events
itself and adds them with explicit ids `0-<n>`, so `Last-Event-ID: <key>-<n>` maps
straight to a range read, on any replica, and waiting for what comes next is a
blocking `XREAD` from that id. Bounds: at most `max_events` per stream (`MAXLEN`; a
client further behind gets a clear "expired"), and every stream key expires
`max_age` seconds after its last event. A small key beside it names the session,
so one session can never resume another's stream.

While a replica writes streams it renews a short-lived heartbeat key for each; a
reader following an unfinished stream whose heartbeat has lapsed (its replica was
killed) sends the client an error for that request instead of waiting for ever.

Redis failing costs resumability only: the live stream goes on, events are not kept
(warned at most every 30 s), and a resume then gets the "unknown or expired" answer; a
resume asked while Redis cannot be reached gets a retryable 503 instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import orjson

from bosun.ops.logs import Throttled
from bosun.protocol.errors import INTERNAL_ERROR, McpError

log = logging.getLogger("bosun.events")
_ALIVE_SECONDS = 6  # a writer's heartbeat key lives this long ...
_BEAT_SECONDS = 2.0  # ... and is renewed this often while its streams are open


class RedisEventStore:
    def __init__(self, url: str, namespace: str, max_events: int = 1_000, max_age: float = 300.0) -> None:
        from bosun.data.redis_client import redis_client

        self.redis = redis_client(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        # Blocking reads wait up to a keep-alive interval: a client of their own, with no read timeout.
        self.blocking = redis_client(url, socket_connect_timeout=1.0)
        self.namespace = namespace
        self.max_events = max_events
        self.ttl = max(1, int(max_age))
        self._numbers: dict[str, int] = {}  # streams this replica writes: the last number given
        self._heartbeat: asyncio.Task[None] | None = None
        self._opened: dict[str, float] = {}  # when each stream written here began (one that never ends is let go)
        self._warn = Throttled(log)

    def _stream(self, key: str) -> str:
        return f"{self.namespace}:events:{{{key}}}"  # one hash tag per stream: its keys share a Cluster slot

    def _owner(self, key: str) -> str:
        return f"{self.namespace}:events:{{{key}}}:session"

    def _alive(self, key: str) -> str:
        return f"{self.namespace}:events:{{{key}}}:alive"

    async def open(self, session_id: str, request_id: Any = None) -> str:
        key = secrets.token_hex(8)
        self._numbers[key] = 0
        self._opened[key] = time.monotonic()
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat())
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(self._owner(key), orjson.dumps({"s": session_id, "r": request_id}), ex=self.ttl)
                pipe.set(self._alive(key), b"1", ex=_ALIVE_SECONDS)
                await pipe.execute()
        except Exception as exc:
            self._warn.warning("event store: Redis unavailable (%s); streams cannot be resumed meanwhile", type(exc).__name__)
        return key

    async def append(self, key: str, data: bytes, final: bool = False) -> int:
        number = self._numbers.get(key, 0) + 1
        if final:
            self._numbers.pop(key, None)  # no more heartbeats: the final event says it ended
            self._opened.pop(key, None)
        else:
            self._numbers[key] = number
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._stream(key), {"d": data, "f": b"1" if final else b"0"}, id=f"0-{number}",
                          maxlen=self.max_events, approximate=False)
                pipe.expire(self._stream(key), self.ttl)
                pipe.expire(self._owner(key), self.ttl)
                await pipe.execute()
        except Exception as exc:
            self._warn.warning("event store: Redis unavailable (%s); streams cannot be resumed meanwhile", type(exc).__name__)
        return number

    async def after(self, session_id: str, key: str, number: int) -> tuple[list[tuple[int, bytes]], bool] | None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self._owner(key))
                pipe.xrange(self._stream(key), "-", "+", count=1)
                pipe.xrange(self._stream(key), f"(0-{number}", "+")
                owner, first, entries = await pipe.execute()
        except Exception as exc:
            self._warn.warning("event store: Redis unavailable (%s); cannot resume a stream", type(exc).__name__)
            raise McpError(INTERNAL_ERROR, "Event store unavailable; retry shortly", http_status=503) from None
        if owner is None or _owner_of(owner).get("s") != session_id:
            return None
        if first and _number(first[0][0]) > number + 1:
            return None  # trimmed past what the client has: it missed events that are gone
        events = [(_number(entry_id), fields[b"d"]) for entry_id, fields in entries]
        done = any(fields.get(b"f") == b"1" for _, fields in entries) or (
            not entries and bool(first) and await self._ended(key))
        return events, done

    async def _ended(self, key: str) -> bool:
        """Whether the stream's last event (already sent to the client) was its final one."""
        with contextlib.suppress(Exception):
            last: Any = await self.redis.xrevrange(self._stream(key), "+", "-", count=1)
            return bool(last) and last[0][1].get(b"f") == b"1"
        return False

    async def wait(self, key: str, after: int, timeout: float) -> None:
        try:
            await self.blocking.xread({self._stream(key): f"0-{after}"}, count=1, block=max(1, int(timeout * 1000)))
        except Exception as exc:
            self._warn.warning("event store: Redis unavailable (%s) while following a stream", type(exc).__name__)
            await asyncio.sleep(min(timeout, 1.0))

    async def abandoned(self, key: str) -> Any:
        """The request id of an unfinished stream whose writer stopped beating (killed, partitioned)."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.exists(self._alive(key))
                pipe.xrevrange(self._stream(key), "+", "-", count=1)
                pipe.get(self._owner(key))
                alive, last, owner = await pipe.execute()
        except Exception:
            return None  # cannot tell: keep following
        if alive or owner is None or (last and last[0][1].get(b"f") == b"1"):
            return None
        request_id = _owner_of(owner).get("r")
        return request_id if request_id is not None else 0

    async def _beat(self) -> None:
        """While this replica writes streams, renew their heartbeat keys, so a reader elsewhere can tell
        an unfinished stream whose writer died from one that is just quiet."""
        while self._numbers:
            stale = time.monotonic() - self.ttl
            for key in [key for key, opened in self._opened.items() if opened < stale]:
                self._numbers.pop(key, None)  # cancelled calls never send a final event
                self._opened.pop(key, None)
            with contextlib.suppress(Exception):  # Redis down: readers cannot reach it either
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in list(self._numbers):
                        pipe.expire(self._alive(key), _ALIVE_SECONDS)
                    await pipe.execute()
            await asyncio.sleep(_BEAT_SECONDS)

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for client in (self.redis, self.blocking):
            with contextlib.suppress(Exception):
                await client.aclose()


def _number(entry_id: Any) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[1])


def _owner_of(raw: bytes) -> dict[str, Any]:
    with contextlib.suppress(orjson.JSONDecodeError):
        value = orjson.loads(raw)
        if type(value) is dict:
            return value
    return {}
