"""2025-era sessions in Redis, so any replica can serve any session without sticky routing.

What a session negotiated (version, client capabilities, client info, log level,
resource subscriptions) lives in Redis under a key that expires after the idle
timeout and is renewed by every request. Each replica keeps its own plumbing for
the sessions it touches (the GET stream it holds, requests it sent to the client).

Limit: a request the server sends to the client (sampling, elicitation, roots)
waits on the replica that sent it, so the client's answer must reach that replica;
2026-07-28 clients have no such limit (their input round trips are stateless).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import orjson

from bosun.protocol.errors import INTERNAL_ERROR, McpError
from bosun.protocol.observe import Observer
from bosun.transport.sessions import Session

log = logging.getLogger("bosun.sessions")


_WARN_EVERY = 30.0
_last_warning = [-1e18]


def _unavailable(exc: Exception) -> McpError:
    """The error a client gets when Redis fails; the warning is logged at most every 30 s, not once per request."""
    now = time.monotonic()
    if now - _last_warning[0] >= _WARN_EVERY:
        _last_warning[0] = now
        log.warning("session store unavailable: %s: %s", type(exc).__name__, exc)
    return McpError(INTERNAL_ERROR, "Session store unavailable; retry shortly", http_status=503)


class RedisSessionStore:
    def __init__(self, url: str, namespace: str = "bosun", idle_seconds: float = 1800.0, request_timeout: float = 300.0,
                 observer: Observer | None = None, timeout: float = 0.5) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.namespace = namespace
        self.idle_seconds = idle_seconds
        self.request_timeout = request_timeout
        self.observer = observer
        self._local: dict[str, Session] = {}

    def _key(self, session_id: str) -> str:
        return f"{self.namespace}:session:{session_id}"

    @staticmethod
    def _record(session: Session) -> bytes:
        return orjson.dumps({"v": session.version, "c": session.capabilities, "i": session.client_info,
                             "o": session.owner, "l": session.log_level, "s": sorted(session.subscriptions)})

    async def create(self, version: str, capabilities: dict[str, Any], client_info: dict[str, Any] | None,
                     owner: str | None = None, client: str | None = None) -> Session:
        """`client` (the quota key) is unused here: Redis expires idle sessions by itself, with room for millions."""
        session = Session(secrets.token_urlsafe(24), version, capabilities, client_info, owner,
                          request_timeout=self.request_timeout)
        try:
            await self.redis.set(self._key(session.id), self._record(session), ex=max(1, int(self.idle_seconds)))
        except Exception as exc:
            raise _unavailable(exc) from None
        self._local[session.id] = session
        if self.observer is not None:
            self.observer.session(1)
        return session

    async def get(self, session_id: str) -> Session | None:
        try:
            raw = await self.redis.getex(self._key(session_id), ex=max(1, int(self.idle_seconds)))
        except Exception as exc:
            raise _unavailable(exc) from None
        if raw is None:
            self._forget(session_id)
            return None
        record = orjson.loads(raw)
        session = self._local.get(session_id)
        if session is None:
            session = Session(session_id, record["v"], record["c"], record["i"], record.get("o"),
                              request_timeout=self.request_timeout)
            self._local[session_id] = session
            if self.observer is not None:
                self.observer.session(1)
        # Another replica may have changed these; update in place (a GET stream holds the set).
        session.log_level = record["l"]
        session.subscriptions.clear()
        session.subscriptions.update(record["s"])
        session.touched = time.monotonic()
        return session

    async def save(self, session: Session) -> None:
        try:
            await self.redis.set(self._key(session.id), self._record(session), ex=max(1, int(self.idle_seconds)))
        except Exception as exc:
            raise _unavailable(exc) from None

    async def delete(self, session_id: str) -> bool:
        try:
            removed = bool(await self.redis.delete(self._key(session_id)))
        except Exception as exc:
            raise _unavailable(exc) from None
        self._forget(session_id)
        return removed

    def _forget(self, session_id: str) -> None:
        session = self._local.pop(session_id, None)
        if session is not None:
            session.close()
            if self.observer is not None:
                self.observer.session(-1)

    async def expire(self) -> int:
        """Drop local plumbing for sessions that expired or were deleted elsewhere (Redis expires the records)."""
        cutoff = time.monotonic() - self.idle_seconds
        idle = [s.id for s in self._local.values() if s.touched < cutoff and s.stream is None and not s.in_flight]
        for session_id in idle:
            self._forget(session_id)
        return len(idle)

    async def close(self) -> None:
        for session_id in list(self._local):
            self._forget(session_id)
        await self.redis.aclose()
