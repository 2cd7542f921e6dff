"""Sessions a replica opens while Redis is down: their ids, and what other replicas answer until they are written back.

A replica that cannot reach Redis opens sessions in its own copy and writes them to Redis when its retry task
finds Redis back (`RedisSessionStore._retry`, every `retry_seconds`). In between, another replica that is on
Redis already (its own retry came first, or it never noticed the outage) does not find them there. A 404 would
tell the client its session is gone, and it would start over in the middle of its work. So these sessions get
ids of their own (`offline_id`: a marker no other id carries, then the usual 192 random bits), and a replica
that misses such an id in Redis answers a retryable 503 for `grace_seconds` after the first time it missed it,
and 404 from then on.

Counted from the first miss, not from the session's creation (a time written into the id): a session opened at
the start of a ten-minute outage can be missed elsewhere only once Redis is back, during the gap before its
replica's next retry, however long the outage was. Counted from the first miss, the window covers that gap, and
it still ends: a session whose replica died before writing it back gets a 404 `grace_seconds` later, and so does
one whose replica stays cut off from Redis while the others reach it. A session known to have ended (deleted
here, or on another replica as the change bus says, or found gone from Redis) is a 404 at once. One that idled
out of Redis costs a client that still uses it `grace_seconds` of 503 before its 404.

It must not talk to Redis: the store asks, this module only remembers.
"""

from __future__ import annotations

import asyncio
import secrets

from redis.exceptions import RedisError

from bosun.protocol.errors import INTERNAL_ERROR, McpError

_MARK = "o."  # '.' never occurs in token_urlsafe's alphabet, so no id made online starts with this
# How long a replica waits for another's write-back, in its own retry intervals (replicas share the setting): the
# replica that opened the session writes it back at its first retry after Redis returns; ten leave room for a
# Redis still loading, or a write-back of many sessions.
# "Redis is unavailable": redis-py's errors (refused, timed out, loading, read-only, out of memory) and the OS's.
FAILURES = (RedisError, OSError, asyncio.TimeoutError)
GRACE_RETRIES = 10


def offline_id() -> str:
    """An id as unguessable as any other, recognisable as opened while Redis was unreachable."""
    return _MARK + secrets.token_urlsafe(24)


def is_offline(session_id: str) -> bool:
    return session_id.startswith(_MARK)


def unavailable() -> McpError:
    """Redis is down and this replica does not hold the session: retry (another replica, or later), not 404."""
    return McpError(INTERNAL_ERROR, "Session store unavailable; retry shortly", http_status=503)


def not_shared_yet() -> McpError:
    """Opened on another replica in an outage, not in Redis yet: its write-back is likely on its way; retry."""
    return McpError(INTERNAL_ERROR, "Session not shared by its replica yet; retry shortly", http_status=503)


class Unwritten:
    """Offline ids this replica looked up in Redis in vain, with when it first did.

    Bounded: at most `limit` ids, each kept `retain_seconds` (the idle timeout: a session unused that long is
    gone anyway), oldest dropped first. A dropped id that is asked for again gets a new window, which costs that
    client `grace_seconds` of 503 before its 404, nothing worse; made-up ids cost the same and no more memory.
    """

    def __init__(self, grace_seconds: float, retain_seconds: float, limit: int) -> None:
        self.grace_seconds = grace_seconds
        self.retain_seconds = retain_seconds
        self.limit = max(1, limit)
        self._first: dict[str, float] = {}  # by first miss, oldest first
        self._ended: dict[str, None] = {}  # any ids known to have ended, the latest `limit` of them

    def known_ended(self, session_id: str) -> bool:
        """Deleted here or (as the change bus said) elsewhere: a miss in Redis is certainly a 404."""
        return session_id in self._ended

    def __len__(self) -> int:
        return len(self._first)

    def wait(self, session_id: str, now: float) -> bool:
        """Redis has no record of `session_id`: True for a retryable 503 (its write-back may be on its way), False for 404."""
        if not is_offline(session_id):
            return False
        first = self._first.get(session_id)
        if first is None:
            self._trim(now)
            self._first[session_id] = first = now
        return now - first < self.grace_seconds

    def ended(self, session_id: str, now: float) -> None:
        """Deleted, or gone from Redis after it was written back: a miss is a 404 from now on, with no window."""
        self._ended.pop(session_id, None)
        self._ended[session_id] = None
        if len(self._ended) > self.limit:
            del self._ended[next(iter(self._ended))]
        if is_offline(session_id):
            self._first.pop(session_id, None)
            self._trim(now)
            self._first[session_id] = now - self.grace_seconds

    def found(self, session_id: str) -> None:
        """Redis has it now: written back."""
        if self._first:
            self._first.pop(session_id, None)

    def _trim(self, now: float) -> None:
        while self._first:
            oldest, when = next(iter(self._first.items()))
            if len(self._first) < self.limit and now - when <= self.retain_seconds:
                return
            del self._first[oldest]
