"""Rate limits shared by every replica: the GCRA buckets live in Redis, checked and charged in one Lua script.

One round trip per request, atomic across replicas, on Redis's own clock (so
replicas with skewed clocks agree). If Redis fails, requests are let through
(fail open: an outage of the limiter must not become an outage of the service),
counted as `bosun_ratelimit_fail_open_total`, and Redis is left alone for a
second before it is tried again, so a frozen Redis costs one timeout per second,
not one per request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from bosun.ops.logs import Throttled
from bosun.security.ratelimit import Bucket

log = logging.getLogger("bosun.security")
_RETRY_AFTER_FAILURE = 1.0
_WARN_EVERY = 30.0

# KEYS: bucket keys. ARGV: per key, its emission interval times the cost, and its period, in microseconds.
# Returns 0 when every bucket had room (and all were charged), else the wait in microseconds.
_GCRA = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000000 + now_parts[2]
local wait = 0
local due = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allowed_from = next_tat - period
  if now < allowed_from and allowed_from - now > wait then wait = allowed_from - now end
  due[i] = next_tat
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%d', due[i]), 'PX', math.ceil((due[i] - now) / 1000) + 1)
end
return 0
"""


class RedisRateLimiter:
    def __init__(self, url: str, namespace: str, event: Callable[[str], None] | None = None, timeout: float = 0.25) -> None:
        from bosun.data.redis_client import redis_client

        self.redis = redis_client(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.namespace = namespace
        self.script: Any = self.redis.register_script(_GCRA)
        self.event = event or (lambda name: None)
        self._skip_until = 0.0
        self._outage = Throttled(log, _WARN_EVERY)

    async def acquire(self, buckets: Sequence[Bucket]) -> float:
        now = time.monotonic()
        if now < self._skip_until:
            self.event("ratelimit_fail_open")
            return 0.0
        keys = [f"{self.namespace}:rl:{key}" for key, _, _ in buckets]
        args: list[int] = []
        for _, limit, cost in buckets:
            period = int(limit.seconds * 1_000_000)
            args += [max(1, period // limit.count) * cost, period]
        try:
            wait = int(await self.script(keys=keys, args=args))
        except Exception as exc:
            self._skip_until = now + _RETRY_AFTER_FAILURE
            self.event("ratelimit_fail_open")
            self._outage.warning("rate limiter unavailable, letting requests through: %s: %s", type(exc).__name__, exc)
            return 0.0
        return math.ceil(wait / 1000) / 1000 if wait > 0 else 0.0

    async def close(self) -> None:
        await self.redis.aclose()
