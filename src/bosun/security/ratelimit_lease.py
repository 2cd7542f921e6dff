"""A replica's share of a shared rate-limit bucket: tokens leased from Redis, spent here without a round trip.

The bucket itself (its GCRA timestamp) lives in Redis (`ratelimit_redis`). A replica that sees a bucket
busy leases a few of its tokens at once: the lease is a real charge in Redis, so leased tokens are never
admitted twice. It spends them locally, and asks for the next lease in the background when half are
gone, so the request path waits on Redis only when this replica holds nothing for the bucket.

What that costs in exactness, per bucket of `count` requests per period, with R replicas (processes:
each worker of `--workers N` is one):

- **Overshoot.** Tokens charged in Redis but still held by a replica are the only way a window can
  admit more than the exact limiter would: in any window, admitted <= what the exact limiter admits +
  the tokens held at the window's start. A replica holds at most `count // LEASE_SHARE` tokens of a
  bucket (`cap`), so the overshoot is at most R x cap = R x count/64: 4.7 % of the limit with 3
  replicas, the limit/(2R) of an even split up to 32 replicas.
- **Small limits are exact.** Below `LEASE_SHARE` (cap 0) nothing is ever held: every request is
  charged in Redis before it is admitted, as the single script did, so 5/minute refuses the 6th
  request whichever replica it lands on; each refusal asks Redis too, so a Redis outage opens them.
- **Refusals remembered.** A bucket that can lease (cap >= 1) remembers until when Redis said it has
  no room, and refuses until then with no round trip, also while Redis is down (the bucket is empty
  either way): only requests Redis would have had to decide fail open.
- **Undershoot.** Tokens another replica holds are unavailable here until it spends or returns them:
  at most (R - 1) x cap of the bucket's burst, never of its steady rate. A replica returns what it
  holds for a bucket it has not used for one to two `IDLE_RETURN`s (a timer sees to it when no
  request comes), and everything on shutdown.

How much a replica leases follows how fast it spends: about `HORIZON` seconds' worth of its own rate
for the bucket, never more than `cap`. A bucket seen less than once per `HORIZON` here leases nothing
(target 0) and is charged exactly, one round trip per request, as before: the round trip only costs
throughput where requests come fast, and there the lease is large. Requests that find nothing held
queue behind one lease, which asks for all of them (a burst on a cold bucket is one round trip).
"""

from __future__ import annotations

import asyncio

from bosun.security.options import RateLimit

LEASE_SHARE = 64  # a replica holds at most 1/64 of a bucket's count
# Seconds of this replica's own rate a lease covers; the next is asked for when half is left, so Redis has a
# quarter of a second to answer before a request waits. 0.1 s was too little on a loaded machine: the event
# loop and Redis each took up to 20-50 ms to get to a lease, and every connection stalled behind it.
HORIZON = 0.5
IDLE_RETURN = 1.0  # a bucket not used for between one and two of these gives its tokens back and is forgotten


class Lease:
    """This replica's share of one bucket: tokens held, how many to hold, and what Redis last said about it."""

    __slots__ = ("interval", "period", "cap", "tokens", "target", "pending", "waiting", "blocked_until", "blocked_need",
                 "epoch", "mark", "demand", "touched")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.period = int(limit.seconds * 1_000_000)  # microseconds, as the script counts
        self.interval = max(1, self.period // limit.count)
        self.cap = limit.count // LEASE_SHARE
        self.tokens = 0  # leased from Redis, not yet spent
        self.target = 0  # tokens to hold: 0 charges every request in Redis (exact)
        self.pending: asyncio.Future[None] | None = None  # the lease in flight, which other requests wait for
        self.waiting = 0  # tokens the requests waiting for a lease need
        self.blocked_until = 0.0  # Redis said it has fewer than `blocked_need` tokens until then (monotonic)
        self.blocked_need = 0
        self.epoch = 0  # refusals so far: a request that waited through one takes it as its answer
        self.mark = now - 1.0  # when `demand` started counting: a bucket's first request sizes no lease
        self.demand = 0  # tokens asked for here since `mark`
        self.touched = True  # used since the last sweep

    def size(self, now: float) -> int:
        """How many tokens to hold, from this replica's rate for the bucket since its last lease (`restart`).

        The rate is the tokens asked for here since then, over that time (at least a millisecond);
        with a lease asked for at half its size, that time is about `HORIZON` / 2.
        """
        rate = self.demand / max(now - self.mark, 0.001)
        self.target = min(self.cap, int(rate * HORIZON))
        return self.target

    def restart(self, now: float) -> None:
        """A lease is being asked for: the rate for the next one is counted from here."""
        self.mark = now
        self.demand = 0

    def refused(self, need: int, until: float) -> None:
        """Redis has fewer than `need` tokens until `until` (monotonic)."""
        self.blocked_until = until
        self.blocked_need = need
        self.epoch += 1

    def blocked(self, need: int, now: float) -> float:
        """Seconds until Redis may have `need` tokens, by what it last said; 0.0 when worth asking."""
        if now < self.blocked_until and need >= self.blocked_need:
            return self.blocked_until - now
        return 0.0

    def remembered(self, need: int, now: float) -> float:
        """`blocked`, for a request that has not asked yet: only a bucket large enough to lease remembers refusals.

        A small limit's request asks Redis each time, as it always did, so a Redis outage opens it.
        """
        return self.blocked(need, now) if self.cap else 0.0
