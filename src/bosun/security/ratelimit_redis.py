"""Rate limits shared by every replica: GCRA buckets in Redis, spent locally from leases (`ratelimit_lease`).

A bucket's timestamp lives in Redis, on Redis's own clock (so replicas with
skewed clocks agree), in the same form the earlier one-script-per-request
limiter kept: old and new replicas share buckets during a rolling upgrade. A
request is admitted from tokens this replica leased for each of its buckets,
with no round trip; only a bucket this replica holds nothing of is asked in
Redis on the request path (its first request here, a slow bucket, a small
limit, or a lease that did not land in time). The bound on what that costs in
exactness is stated in `ratelimit_lease`.

Every script touches one key (one bucket): several buckets are several calls,
so no call spans two hash slots on Redis Cluster. Every key is built by `key`.

If Redis fails, requests that hold no token are let through (fail open: an
outage of the limiter must not become an outage of the service), each counted
(`bosun_security_events_total{event="ratelimit_fail_open"}`), and Redis is left alone for a second
before it is tried again, so a frozen Redis costs one timeout per second, not
one per request; the warning is said once per 30 seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bosun.ops.logs import Throttled
from bosun.security.options import RateLimit
from bosun.security.ratelimit import MAX_BUCKETS, Bucket
from bosun.security.ratelimit_lease import IDLE_RETURN, Lease

log = logging.getLogger("bosun.security")
_RETRY_AFTER_FAILURE = 1.0
_WARN_EVERY = 30.0
_CLOSE_TIMEOUT = 0.5

# KEYS[1]: the bucket. ARGV: emission interval and period (microseconds), then need and want (tokens).
# Grants min(want, room) tokens if room >= need, else none. Returns {granted, microseconds until `need` fit}.
_LEASE = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000000 + now_parts[2]
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local room = math.floor((now + period - tat) / interval)
if room < need then return {0, tat + need * interval - period - now} end
if room < want then want = room end
tat = tat + want * interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return {want, 0}
"""

# KEYS[1]: the bucket. ARGV[1]: microseconds to give back (unspent tokens x interval). A full bucket stays full.
_RETURN = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000000 + now_parts[2]
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat <= now then return 0 end
tat = tat - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
end
return 0
"""


class RedisRateLimiter:
    def __init__(self, url: str, namespace: str, event: Callable[[str], None] | None = None, timeout: float = 0.25,
                 max_buckets: int = MAX_BUCKETS) -> None:
        from bosun.data.redis_client import redis_client

        self.redis = redis_client(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.namespace = namespace
        self.lease_script: Any = self.redis.register_script(_LEASE)
        self.return_script: Any = self.redis.register_script(_RETURN)
        self.event = event or (lambda name: None)
        self.max_buckets = max_buckets
        self._leases: dict[str, Lease] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # leases and returns in the background, kept from the collector
        self._skip_until = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._outage = Throttled(log, _WARN_EVERY)

    def key(self, bucket: str) -> str:
        """The Redis key of a bucket: the one place keys are built (a Redis Cluster hash tag goes here)."""
        return f"{self.namespace}:rl:{bucket}"

    def spend(self, buckets: Sequence[Bucket]) -> float | None:
        """The steady state of a busy bucket, with no await: every bucket charged from the tokens this replica
        holds (0.0), or nothing charged and None when one of them holds too few (then `acquire`)."""
        leases = self._leases
        if len(buckets) == 1:  # the common case, without the lists
            key, limit, cost = buckets[0]
            lease = leases.get(key) or self._open(key, limit)
            if lease.tokens < cost:
                return None
            self._charge(key, lease, cost)
            return 0.0
        held = []
        for key, limit, cost in buckets:
            lease = leases.get(key) or self._open(key, limit)
            if lease.tokens < cost:
                return None
            held.append((key, lease, cost))
        for key, lease, cost in held:
            self._charge(key, lease, cost)
        return 0.0

    def _charge(self, key: str, lease: Lease, cost: int) -> None:
        lease.demand += cost
        lease.touched = True
        lease.tokens -= cost
        if lease.target and lease.tokens <= lease.target >> 1 and lease.pending is None:
            self._prefetch(key, lease)

    async def acquire(self, buckets: Sequence[Bucket]) -> float:
        spent = self.spend(buckets)
        if spent is not None:
            return spent
        held: list[tuple[str, Lease, int]] = []
        for key, limit, cost in buckets:
            lease = self._leases.get(key) or self._open(key, limit)
            lease.demand += cost
            lease.touched = True
            held.append((key, lease, cost))
        return await self._short(held)

    async def _short(self, held: list[tuple[str, Lease, int]]) -> float:
        """A request some bucket of which this replica holds too few tokens for: take what is held, lease the rest.

        All or nothing across buckets, as before: when one bucket refuses, what was taken or leased for
        the others is given back (held here, the excess over a lease's size returned to Redis).
        """
        now = time.monotonic()
        if now < self._skip_until:
            self.event("ratelimit_fail_open")
            return 0.0
        wait = max(lease.remembered(cost - lease.tokens, now) for _, lease, cost in held)
        if wait > 0:  # Redis said so recently: refused with no round trip
            return _seconds(wait)
        taken = []
        for _, lease, cost in held:
            got = min(lease.tokens, cost)
            lease.tokens -= got
            taken.append(got)
        fills = [(key, lease, cost - got) for (key, lease, cost), got in zip(held, taken, strict=True) if cost > got]
        results = await self._fill_all(fills)
        if None in results:
            self.event("ratelimit_fail_open")
            return 0.0
        wait = max(result for result in results if result is not None)
        if wait == 0:
            return 0.0
        given = {key: got for (key, _, _), got in zip(held, taken, strict=True)}
        for (key, _, need), result in zip(fills, results, strict=True):
            if result == 0:
                given[key] += need
        for key, lease, _ in held:
            self._give_back(key, lease, given[key])
        return _seconds(wait)

    async def _fill_all(self, fills: list[tuple[str, Lease, int]]) -> list[float | None]:
        if len(fills) == 1:  # one bucket short, as a rule: no gather
            return [await self._fill(*fills[0])]
        return list(await asyncio.gather(*(self._fill(*fill) for fill in fills)))

    async def _fill(self, key: str, lease: Lease, need: int) -> float | None:
        """`need` more tokens of one bucket for the request waiting: 0.0 once they are taken, the seconds until
        Redis may have them when it has not, None when Redis failed (fail open).

        Requests short of the same bucket queue behind one lease in flight, which asks for all of
        them at once: a burst of new requests on a cold bucket costs one round trip, not one each
        (nor a Redis connection each). A refusal that lands while a request waits answers it too.
        """
        lease.waiting += need
        epoch = lease.epoch
        try:
            while True:
                if lease.tokens >= need:
                    lease.tokens -= need
                    return 0.0
                now = time.monotonic()
                if now < self._skip_until:
                    return None
                wait = lease.blocked(need - lease.tokens, now) if lease.epoch != epoch else lease.remembered(need - lease.tokens, now)
                if wait > 0:
                    return wait
                pending = lease.pending
                if pending is not None:
                    await asyncio.shield(pending)
                else:
                    await self._renew(key, lease, need - lease.tokens, now)
        finally:
            lease.waiting -= need

    async def _renew(self, key: str, lease: Lease, minimum: int, now: float) -> None:
        """Lease at least `minimum` tokens (or none), as many as the requests waiting need, plus the lease's size."""
        target = lease.size(now)
        lease.restart(now)
        want = max(minimum, lease.waiting - lease.tokens) + target
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lease.pending = done
        try:
            answer = await self._lease(key, lease, minimum, want)
        finally:
            if lease.pending is done:
                lease.pending = None
            done.set_result(None)
        if answer is not None:
            lease.tokens += answer[0]

    async def _lease(self, key: str, lease: Lease, need: int, want: int) -> tuple[int, float] | None:
        """Run the lease script: (tokens granted, seconds until `need` fit when none were), or None when Redis
        failed (it is then left alone for a second). A refusal is written on the lease (`Lease.refused`)."""
        try:
            granted, wait = await self.lease_script(keys=[self.key(key)], args=[lease.interval, lease.period, need, want])
        except Exception as exc:
            self._skip_until = time.monotonic() + _RETRY_AFTER_FAILURE
            self._outage.warning("rate limiter unavailable, letting requests through: %s: %s", type(exc).__name__, exc)
            return None
        if granted:
            return int(granted), 0.0
        seconds = math.ceil(int(wait) / 1000) / 1000
        lease.refused(need, time.monotonic() + seconds)
        return 0, seconds

    def _prefetch(self, key: str, lease: Lease) -> None:
        """Lease the next tokens of a busy bucket in the background, before this replica runs out."""
        now = time.monotonic()
        if now < self._skip_until or lease.remembered(1, now):
            return
        want = lease.size(now) - lease.tokens
        if want > 0:
            lease.restart(now)
            lease.pending = self._spawn(self._refill(key, lease, want))

    async def _refill(self, key: str, lease: Lease, want: int) -> None:
        try:
            answer = await self._lease(key, lease, 1, want)
            if answer is not None:
                lease.tokens += answer[0]
        finally:
            if lease.pending is asyncio.current_task():
                lease.pending = None

    def _give_back(self, key: str, lease: Lease, tokens: int) -> None:
        """Tokens a refused request had taken: held again, and what exceeds the lease's size returned to Redis."""
        lease.tokens += tokens
        excess = lease.tokens - lease.target
        if excess > 0:
            lease.tokens -= excess
            self._return(key, lease, excess)

    def _return(self, key: str, lease: Lease, tokens: int) -> None:
        """Give unspent tokens back to the bucket in Redis, in the background; lost (the bucket refills) if Redis is down."""
        if time.monotonic() >= self._skip_until:
            self._spawn(self._send_back(self.key(key), tokens * lease.interval))

    async def _send_back(self, redis_key: str, microseconds: int) -> None:
        try:
            await self.return_script(keys=[redis_key], args=[microseconds])
        except Exception:  # conservative either way: the tokens stay charged until the bucket refills
            log.debug("rate limiter could not return leased tokens", exc_info=True)

    def _open(self, key: str, limit: RateLimit) -> Lease:
        now = time.monotonic()
        if len(self._leases) >= self.max_buckets:
            self._sweep(crowded=True)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(IDLE_RETURN, self._on_timer)
        lease = self._leases[key] = Lease(limit, now)
        return lease

    def _on_timer(self) -> None:
        self._timer = None
        self._sweep()
        if self._leases:
            self._timer = asyncio.get_running_loop().call_later(IDLE_RETURN, self._on_timer)

    def _sweep(self, crowded: bool = False) -> None:
        """Forget buckets not used since the last sweep, returning what they hold; when crowded, every idle one.

        A timer runs it every `IDLE_RETURN` while buckets are known (so the request path reads no
        clock for it, and a replica the traffic has left still gives its tokens back), and `_open`
        when `max_buckets` are known: the map of buckets stays bounded.
        """
        leases = self._leases
        for key in list(leases):
            lease = leases[key]
            if lease.pending is None and (crowded or not lease.touched):
                del leases[key]
                if lease.tokens:
                    self._return(key, lease, lease.tokens)
            else:
                lease.touched = False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Return what this replica holds (briefly: a rolling restart should not strand tokens), then disconnect."""
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        if time.monotonic() >= self._skip_until:
            returns = [asyncio.ensure_future(self._send_back(self.key(key), lease.tokens * lease.interval))
                       for key, lease in self._leases.items() if lease.tokens]
            if returns:
                _, late = await asyncio.wait(returns, timeout=_CLOSE_TIMEOUT)
                for task in late:
                    task.cancel()
        self._leases.clear()
        await self.redis.aclose()


def _seconds(wait: float) -> float:
    """A wait rounded up to the millisecond, as the limiter has always answered: never 0 for a refusal."""
    return max(0.001, math.ceil(wait * 1000) / 1000)
