"""The cache: one small interface, in memory by default, Redis when replicas should share it.

A cache outage must never fail a request: every Redis error becomes a miss (or a
skipped write), is counted, and shows as a non-critical readiness failure. Keys
are namespaced per server; tags let a write invalidate every entry it affects.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger("bosun.cache")


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float, tags: tuple[str, ...] = ()) -> None: ...

    async def invalidate(self, *tags: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """Bounded LRU with per-entry TTL, for one process."""

    def __init__(self, max_entries: int = 10_000, namespace: str = "bosun") -> None:
        self.max_entries = max_entries
        self.namespace = namespace
        self._entries: OrderedDict[str, tuple[float, bytes, tuple[str, ...]]] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self.stats = {"hit": 0, "miss": 0, "error": 0}

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            if entry is not None:
                self._drop(key)
            self.stats["miss"] += 1
            return None
        self._entries.move_to_end(key)
        self.stats["hit"] += 1
        return entry[1]

    async def set(self, key: str, value: bytes, ttl: float, tags: tuple[str, ...] = ()) -> None:
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + ttl, value, tags)
        for tag in tags:
            self._tags.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))

    async def invalidate(self, *tags: str) -> None:
        for tag in tags:
            for key in self._tags.pop(tag, set()):
                self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            for tag in entry[2]:
                keys = self._tags.get(tag)
                if keys is not None:
                    keys.discard(key)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisCache:
    """redis-py asyncio, pooled, with short timeouts; errors degrade to misses."""

    def __init__(self, url: str, namespace: str = "bosun", timeout: float = 0.25, max_connections: int = 50) -> None:
        from bosun.data.redis_client import redis_client

        self.namespace = namespace
        self.redis = redis_client(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                  max_connections=max_connections, retry_on_timeout=False)
        self.stats = {"hit": 0, "miss": 0, "error": 0}
        self._last_error = 0.0

    def _key(self, key: str) -> str:
        return f"{self.namespace}:c:{key}"

    def _tag(self, tag: str) -> str:
        return f"{self.namespace}:t:{tag}"

    def _failed(self, action: str, exc: Exception) -> None:
        self.stats["error"] += 1
        now = time.monotonic()
        if now - self._last_error > 10:  # one line per ten seconds of outage, not one per request
            log.warning("cache %s failed (%s: %s); serving without the cache", action, type(exc).__name__, exc)
            self._last_error = now

    async def get(self, key: str) -> bytes | None:
        try:
            value: Any = await self.redis.get(self._key(key))
        except Exception as exc:
            self._failed("read", exc)
            return None
        self.stats["hit" if value is not None else "miss"] += 1
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float, tags: tuple[str, ...] = ()) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(self._key(key), value, px=max(1, int(ttl * 1000)))
                for tag in tags:
                    pipe.sadd(self._tag(tag), self._key(key))
                    pipe.pexpire(self._tag(tag), max(1, int(ttl * 1000)) + 60_000)
                await pipe.execute()
        except Exception as exc:
            self._failed("write", exc)

    async def invalidate(self, *tags: str) -> None:
        try:
            for tag in tags:
                members: set[Any] = await self.redis.smembers(self._tag(tag))
                if members:
                    await self.redis.delete(*members)
                await self.redis.delete(self._tag(tag))
        except Exception as exc:
            self._failed("invalidation", exc)

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()


def cache_from_url(url: str | None, namespace: str, max_entries: int = 10_000) -> Cache:
    if url:
        return RedisCache(url, namespace)
    return MemoryCache(max_entries, namespace)
