"""Rate limits: the limiter seam, and the in-memory limiter for a single replica.

The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept as
one timestamp per key): a limit of N per period allows a burst of N, then one
request every period/N. A request may need several buckets at once (the
caller's own limit and the tool's); it is allowed only if every bucket has room,
and then every bucket is charged, or none is.

`RedisRateLimiter` (`ratelimit_redis`) does the same in one Lua script, so all
replicas share the buckets. Both return how long the caller must wait, 0.0 when
the request may go ahead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from bosun.security.options import RateLimit

Bucket = tuple[str, RateLimit, int]  # key, limit, cost (requests this one counts for)
_PRUNE_AT = 50_000


class RateLimiter(Protocol):
    async def acquire(self, buckets: Sequence[Bucket]) -> float:
        """Charge every bucket and return 0.0, or charge none and return the seconds until a retry can succeed."""
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Buckets in this process: exact for one replica, N times too generous for N replicas."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}  # key -> theoretical arrival time (monotonic seconds)

    async def acquire(self, buckets: Sequence[Bucket]) -> float:
        now = time.monotonic()
        wait = 0.0
        updates = []
        for key, limit, cost in buckets:
            interval = limit.seconds / limit.count
            due = max(self._due.get(key, now), now) + interval * cost
            allowed_from = due - limit.seconds
            if now < allowed_from:
                wait = max(wait, allowed_from - now)
            updates.append((key, due))
        if wait > 0:
            return wait
        if len(self._due) > _PRUNE_AT:
            self._prune(now)
        for key, due in updates:
            self._due[key] = due
        return 0.0

    def _prune(self, now: float) -> None:
        for key in [key for key, due in self._due.items() if due <= now]:
            del self._due[key]

    async def close(self) -> None:
        return None
