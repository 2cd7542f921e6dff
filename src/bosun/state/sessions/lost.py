"""Sessions Redis lost while this replica held them in use: restored from the copy, never answered 404.

Redis replicates asynchronously. A failover loses what the old primary took last; a planned `SENTINEL FAILOVER` too,
since the old primary takes writes for a moment after its replica was promoted. Sessions opened in that moment are
gone from the new primary, and a 404 would tell their clients to start over in the middle of their work (138 calls
of 2,014 in one CI run). An eviction under `maxmemory` loses records the same way.

So a replica that finds a record missing while it holds the session, in use within the idle timeout and not known
to have ended, writes its copy back (`SET NX`) and serves it. What tells "lost" apart from "deleted on another replica,
whose bus message was lost" is the tombstone a DELETE leaves first (`<record key>:ended`, as long as a record would
live): a copy whose tombstone is there ends (404), as before. A replica that does not hold the session cannot
restore it: just after Redis moved (the store's settle window) it answers a retryable 503, and the replica holding
the copy restores it at its next read, at most the revalidation interval after that replica's next use of it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import TYPE_CHECKING

from bosun.data.redis_moves import last_moved
from bosun.ops.logs import Throttled
from bosun.state.sessions.heard import HeardFromReplicas
from bosun.state.sessions.offline import FAILURES, not_shared_yet, unavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from bosun.state.sessions.session import Session

log = logging.getLogger("bosun.sessions")
ENDED = ":ended"  # a tombstone's key is its record's key and this
# Just after Redis moved (an outage ended, the change bus's connection was replaced, the Sentinel client followed a
# failover) a read may meet a demoted primary, or a new one that lacks what the old one took last: for this long a
# miss is a retryable 503, not a 404.
SETTLE_SECONDS = 2.0


class LostSessions(HeardFromReplicas):
    """Mixed into `RedisSessionStore`, which sets these attributes."""

    _record: Callable[[Session], bytes]  # the store's record of a session
    _ttl: int
    _restoring: set[asyncio.Task[None]]
    _restored: Throttled
    _back_at: float  # when the store found Redis again after an outage
    _subscriptions: int
    _resubscribed_at: float

    def missing(self, session_id: str, session: Session | None, now: float, checked: float, deleted: bool) -> Session | None:
        """What a record missing from Redis means for this request: the copy, restored; a retryable 503; or None (404)."""
        if session is not None and session_id in self._local.unsaved:
            session.touched = now  # opened or changed during an outage; the write-back is under way
            return session
        if session is not None and not deleted and self.restorable(session_id, now):
            self.restore_later(session)
            session.touched, session.checked = now, checked
            return session
        settling = now - max(self._back_at, last_moved(), self._resubscribed_at) < SETTLE_SECONDS
        if settling and not deleted and not self._unwritten.known_ended(session_id):
            raise unavailable()
        if session is not None:
            self._local.drop(session_id)  # expired, or deleted on another replica
            self._unwritten.ended(session_id, now)
        elif self._unwritten.wait(session_id, now):
            raise not_shared_yet()  # opened on another replica in an outage, its write-back under way
        return None

    def bus_subscribed(self, on: bool) -> None:
        """The change bus subscribed: a second time means its connection was replaced, and Redis may have moved."""
        if on:
            self._subscriptions += 1
            if self._subscriptions > 1:
                self._resubscribed_at = time.monotonic()

    def restorable(self, session_id: str, now: float) -> bool:
        """Whether this replica's copy may be written back if Redis misses it."""
        session = self._local.peek(session_id)
        return (session is not None and session_id not in self._local.unsaved and not self._local.idle(session, now)
                and not self._unwritten.known_ended(session_id))

    async def deleted(self, session_ids: list[str]) -> set[str]:
        """Which of these sessions were deleted (their tombstones are in Redis), in one round trip."""
        if not session_ids:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.exists(self._key(session_id) + ENDED)
            found = await pipe.execute()
        return {session_id for session_id, count in zip(session_ids, found, strict=True) if count}

    async def bury(self, session_id: str) -> None:
        """Leave the tombstone, before the record is deleted."""
        await self.redis.set(self._key(session_id) + ENDED, b"1", ex=self._ttl)

    def restore_later(self, session: Session) -> None:
        """Write the copy back, in the background: the request it was read for is served from it meanwhile."""
        task = asyncio.get_running_loop().create_task(self._restore(session), context=contextvars.Context())
        self._restoring.add(task)
        task.add_done_callback(self._restoring.discard)

    async def _restore(self, session: Session) -> None:
        key = self._key(session.id)
        try:
            if not await self.redis.set(key, self._record(session), ex=self._ttl, nx=True):
                return  # written meanwhile: restored by another replica that holds it too, or changed
            if await self.redis.exists(key + ENDED):  # deleted meanwhile: not this replica's to bring back
                await self.redis.delete(key)
                self._fresh.stale(self._local.drop(session.id))
                self._unwritten.ended(session.id, time.monotonic())
                return
        except FAILURES:
            return  # the copy is still held: its next read tries again
        self._restored.warning("Redis had lost a session this replica holds in use (a failover, an eviction); "
                               "restored from this replica's copy")
