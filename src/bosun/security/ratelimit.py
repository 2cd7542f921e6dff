"""Rate limits: the limiter seam, and the in-memory limiter for a single replica.

The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept as
one timestamp per key): a limit of N per period allows a burst of N, then one
request every period/N. A request may need several buckets at once (the
caller's own limit and the tool's); it is allowed only if every bucket has room,
and then every bucket is charged, or none is.

`RedisRateLimiter` (`ratelimit_redis`) keeps the same buckets in Redis, so all
replicas share them, and spends tokens it leased from them locally
(`ratelimit_lease`: the bound on what that trades in exactness is stated there).
Both return how long the caller must wait, 0.0 when the request may go ahead.

Bucket keys come from requests (a principal's key, a peer address), so both
limiters are bounded: a key longer than `MAX_KEY` characters is replaced by its
digest (`bounded_key`), and the in-memory limiter holds at most `MAX_BUCKETS`
buckets (`trim`: full buckets go first, then those closest to full, which lose
the least by being forgotten).
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Sequence
from typing import Protocol

from bosun.security.options import RateLimit

Bucket = tuple[str, RateLimit, int]  # key, limit, cost (requests this one counts for)
MAX_KEY = 200
MAX_BUCKETS = 50_000


def bounded_key(key: str) -> str:
    """`key`, or a fixed-length digest of it when it is longer than `MAX_KEY` (a subject or an address can be long)."""
    if len(key) <= MAX_KEY:
        return key
    return "h:" + hashlib.blake2b(key.encode(errors="surrogatepass"), digest_size=16).hexdigest()


def trim(due: dict[str, float], now: float, cap: int) -> None:
    """Bring a dict of key -> theoretical arrival time under `cap` entries, forgetting what costs least to forget.

    Keys whose time has passed are full buckets, identical to absent ones. If live keys alone fill more
    than three quarters of the cap (a flood of distinct callers within one period), those due soonest go,
    down to three quarters, so this O(n) sweep runs at most once per `cap / 4` new keys.
    """
    for key in [key for key, when in due.items() if when <= now]:
        del due[key]
    excess = len(due) - cap * 3 // 4
    if excess > 0:
        for key, _ in heapq.nsmallest(excess, due.items(), key=lambda item: item[1]):
            del due[key]


class RateLimiter(Protocol):
    def spend(self, buckets: Sequence[Bucket]) -> float | None:
        """What `acquire` answers, when it can be decided without waiting (no I/O); else None, having charged nothing.

        The request path tries this first: most requests are decided here, and skip an await."""
        ...

    async def acquire(self, buckets: Sequence[Bucket]) -> float:
        """Charge every bucket and return 0.0, or charge none and return the seconds until a retry can succeed."""
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Buckets in this process: exact for one replica, N times too generous for N replicas."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self._due: dict[str, float] = {}  # key -> theoretical arrival time (monotonic seconds)
        self.max_buckets = max_buckets

    async def acquire(self, buckets: Sequence[Bucket]) -> float:
        return self.spend(buckets)

    def spend(self, buckets: Sequence[Bucket]) -> float:
        """Always decided here: the buckets are in this process."""
        now = time.monotonic()
        wait = 0.0
        updates = []
        for key, limit, cost in buckets:
            interval = limit.seconds / limit.count
            due = max(self._due.get(key, now), now) + interval * cost
            allowed_from = due - limit.seconds
            if allowed_from - now > 1e-9:  # not `now < allowed_from`: (now + T) - T can come out a hair above now
                wait = max(wait, allowed_from - now)
            updates.append((key, due))
        if wait > 0:
            return wait
        if len(self._due) >= self.max_buckets:
            trim(self._due, now, self.max_buckets)
        for key, due in updates:
            self._due[key] = due
        return 0.0

    async def close(self) -> None:
        return None
