"""This replica's own copy of the 2025 sessions it serves, for when the shared Redis store is down.

`RedisSessionStore` keeps every session it touches here anyway (the process-local
plumbing: GET stream, requests sent to the client). This module makes that copy
good enough to serve from during an outage: it is bounded (at most `max_sessions`
in all and `max_per_client` per client, least recently used idle ones go first),
idle sessions expire, and it remembers what happened while Redis was away
(sessions created, renewed or changed; sessions deleted) so the store can write it
back when Redis returns.

It must not talk to Redis or decide when Redis is down: that is the store's job.
"""

from __future__ import annotations

import time

from bosun.protocol.errors import McpError
from bosun.protocol.observe import Observer
from bosun.state.sessions.index import SessionIndex
from bosun.state.sessions.session import Session


def _busy(session: Session) -> bool:
    return session.stream is not None or bool(session.in_flight)


class LocalSessions:
    """Sessions by id, least recently used first, with a per-client index and a write-back log.

    `unsaved` maps a session id to True when this replica changed or created it while Redis
    was down (its record must overwrite Redis's), or False when it only renewed it (restore it
    if Redis lost it, otherwise just extend its expiry). `deleted` holds ids deleted during the
    outage, with when, so Redis forgets them too.
    """

    def __init__(self, idle_seconds: float, max_sessions: int, max_per_client: int, observer: Observer | None) -> None:
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self.max_per_client = max_per_client
        self.observer = observer
        self.unsaved: dict[str, bool] = {}
        self.deleted: dict[str, float] = {}
        self._index = SessionIndex()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._index

    def peek(self, session_id: str) -> Session | None:
        """The session without counting it as used (write-back reads it)."""
        return self._index.peek(session_id)

    def get(self, session_id: str) -> Session | None:
        """The session, moved to the most recently used end of both orders."""
        return self._index.use(session_id)

    def idle(self, session: Session, now: float) -> bool:
        """Idle past the timeout as far as this replica knows (another replica may have seen it since)."""
        return now - session.touched > self.idle_seconds and not _busy(session)

    def add(self, session: Session, strict: bool) -> None:
        """Keep `session`, evicting idle ones at the caps.

        With Redis up (`strict` False) the copy is only a cache: if every candidate is busy it
        grows past the cap (busy sessions are bounded by open connections) rather than refuse.
        With Redis down it is the only copy, so a full one refuses with a retryable 503.
        """
        mine = self._index.of_client(session.client)
        if mine is not None and len(mine) >= self.max_per_client and not self._evict(mine) and strict:
            raise McpError(-32000, "Too many open sessions for this client; close one (DELETE) or retry later",
                           http_status=503)
        if len(self._index) >= self.max_sessions and not self._evict(self._index.sessions) and strict:
            raise McpError(-32000, "Too many open sessions; try again later", http_status=503)
        self._index.add(session)
        if self.observer is not None:
            self.observer.session(1)

    def _evict(self, candidates: dict[str, None] | dict[str, Session]) -> bool:
        """Drop the least recently used idle session among `candidates`, preferring one Redis also holds.

        A session Redis holds costs nothing to drop (the next request reloads it); one only this
        replica holds (created or changed in an outage) is lost, and counted as evicted.
        """
        fallback = None
        for session_id in candidates:
            if _busy(self._index.sessions[session_id]):
                continue
            if session_id not in self.unsaved:
                self.drop(session_id)
                return True
            if fallback is None:
                fallback = session_id
        if fallback is None:
            return False
        self.drop(fallback)
        if self.observer is not None:
            self.observer.session_evicted()
        return True

    def drop(self, session_id: str) -> Session | None:
        """Forget a session here (its plumbing is closed); its Redis record, if any, is untouched."""
        session = self._index.remove(session_id)
        if session is None:
            return None
        self.unsaved.pop(session_id, None)
        session.close()
        if self.observer is not None:
            self.observer.session(-1)
        return session

    def deleted_during_outage(self, session_id: str, now: float) -> None:
        """Remember to delete the Redis record too; bounded, oldest first (a forgotten one just idles out in Redis)."""
        self.drop(session_id)
        self.deleted[session_id] = now
        while len(self.deleted) > self.max_sessions:
            del self.deleted[next(iter(self.deleted))]

    def expire(self, now: float | None = None) -> int:
        """Drop idle sessions and deletions too old to matter (Redis expired those keys itself); returns how many sessions."""
        now = time.monotonic() if now is None else now
        stale = [s.id for s in self._index if self.idle(s, now)]
        for session_id in stale:
            self.drop(session_id)
        cutoff = now - self.idle_seconds
        for session_id in [i for i, when in self.deleted.items() if when < cutoff]:
            del self.deleted[session_id]
        return len(stale)

    def close(self) -> None:
        for session in self._index:
            self.drop(session.id)
