"""2025 sessions in this process's memory: the default store, bounded and idle-expired."""

from __future__ import annotations

import secrets
import time
from typing import Any

from bosun.protocol.errors import McpError
from bosun.protocol.observe import Observer
from bosun.state.sessions.index import SessionIndex
from bosun.state.sessions.session import Session, apply_change

CHURN_SECONDS = 60.0


class MemorySessionStore:
    """Sessions in this process's memory, dropped after `idle_seconds` without a request.

    Bounded two ways, so `initialize` floods cannot lock clients out: at most `max_sessions`
    in all, and at most `max_per_client` per client (the principal, or the peer address on an
    open server). At either bound the least recently used idle session (no stream, nothing in
    flight) of that scope is evicted; its client gets 404 and initializes again, as the spec
    intends. Only when nothing is idle does `initialize` get a 503.
    """

    def __init__(self, idle_seconds: float = 1800.0, request_timeout: float = 300.0, max_sessions: int = 10_000,
                 observer: Observer | None = None, max_per_client: int = 100) -> None:
        self.observer = observer
        self.idle_seconds = idle_seconds
        self.request_timeout = request_timeout
        self.max_sessions = max_sessions
        self.max_per_client = max_per_client
        self._index = SessionIndex()

    def __len__(self) -> int:
        return len(self._index)

    def saturation(self) -> tuple[bool, str]:
        """Readiness: full of sessions that are in use, so a new client would push out a live one.

        At the cap, evicting sessions idle for a while is harmless and the store stays ready; once
        the least recently used idle session was used within `CHURN_SECONDS` (or none is idle),
        this replica is overloaded and should get no new work until sessions free up.
        """
        count = len(self._index)
        if count < self.max_sessions:
            return True, f"{count} of {self.max_sessions} sessions"
        now = time.monotonic()
        for session in self._index:
            if session.stream is None and not session.in_flight:
                idle = now - session.touched
                if idle < CHURN_SECONDS:
                    return False, f"full ({count} sessions): evicting sessions used {idle:.0f}s ago"
                return True, f"full ({count} sessions): evicting sessions idle for {idle:.0f}s"
        return False, f"full ({count} sessions), every one busy: new clients get 503"

    async def create(self, version: str, capabilities: dict[str, Any], client_info: dict[str, Any] | None,
                     owner: str | None = None, client: str | None = None) -> Session:
        client = client or owner or "-"
        mine = self._index.of_client(client)
        if mine is not None and len(mine) >= self.max_per_client and not self._evict(mine):
            raise McpError(-32000, "Too many open sessions for this client; close one (DELETE) or retry later",
                           http_status=503)
        if len(self._index) >= self.max_sessions:
            await self.expire()
            if len(self._index) >= self.max_sessions and not self._evict(self._index.sessions):
                raise McpError(-32000, "Too many open sessions; try again later", http_status=503)
        session = Session(secrets.token_urlsafe(24), version, capabilities, client_info, owner,
                          request_timeout=self.request_timeout)
        session.client = client
        self._index.add(session)
        if self.observer is not None:
            self.observer.session(1)
        return session

    def _evict(self, candidates: dict[str, Any]) -> bool:
        """Drop the least recently used idle session among `candidates`; False if every one is busy."""
        for session_id in candidates:
            session = self._index.sessions[session_id]
            if session.stream is None and not session.in_flight:
                self._drop(session_id)
                if self.observer is not None:
                    self.observer.session_evicted()
                return True
        return False

    async def get(self, session_id: str) -> Session | None:
        session = self._index.peek(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.touched > self.idle_seconds and session.stream is None and not session.in_flight:
            await self.delete(session_id)
            return None
        session.touched = now
        self._index.use(session_id)  # most recently used goes last: eviction takes from the front
        return session

    async def save(self, session: Session) -> None:
        """Sessions here are the stored objects themselves: nothing to write back."""

    async def change(self, session: Session, *, level: str | None = None, subscribe: str | None = None,
                     unsubscribe: str | None = None) -> None:
        apply_change(session, level, subscribe, unsubscribe)

    async def delete(self, session_id: str) -> bool:
        return self._drop(session_id)

    def _drop(self, session_id: str) -> bool:
        session = self._index.remove(session_id)
        if session is None:
            return False
        session.close()
        if self.observer is not None:
            self.observer.session(-1)
        return True

    async def expire(self) -> int:
        """Drop idle sessions (no request, no open stream, nothing in flight); returns how many."""
        cutoff = time.monotonic() - self.idle_seconds
        stale = [s.id for s in self._index if s.touched < cutoff and s.stream is None and not s.in_flight]
        for session_id in stale:
            await self.delete(session_id)
        return len(stale)

    async def close(self) -> None:
        for session in self._index:
            await self.delete(session.id)
