"""What other replicas tell a Redis session store about sessions it may hold, through the change bus.

`changes.redis_bus` calls these `*_local` methods when another replica deletes or changes a session, answers a
request this replica's session sent its client, or cancels a request running here. Kept apart from the store's
own reads and writes (`redis_store`), which they share state with: the copies, their freshness, the pending reloads.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson

from bosun.state.sessions.offline import FAILURES
from bosun.state.sessions.session import refresh

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis

    from bosun.state.sessions.fallback import LocalSessions
    from bosun.state.sessions.freshness import Freshness
    from bosun.state.sessions.offline import Unwritten


class HeardFromReplicas:
    """Mixed into `RedisSessionStore`, which sets these attributes."""

    redis: Redis
    _fresh: Freshness
    _local: LocalSessions
    _unwritten: Unwritten
    _reloading: set[asyncio.Task[None]]
    _down: bool
    _key: Callable[[str], str]  # the record's key of a session id: the store's own method

    def end_local(self, session_id: str) -> None:
        """Deleted on another replica: this copy goes too, and its waiting requests end."""
        self._fresh.stale(self._local.drop(session_id))
        self._unwritten.ended(session_id, time.monotonic())

    def stale_local(self, session_id: str, record: dict[str, Any] | None = None) -> None:
        """Changed on another replica (its log level, its subscriptions): this copy is read again at its next use,
        and takes `record`'s fields meanwhile if it is not older (a GET stream held here filters by them now)."""
        session = self._local.peek(session_id)
        self._fresh.stale(session)
        if record is not None and session is not None and session_id not in self._local.unsaved:
            refresh(session, record)

    def cancel_local(self, session_id: str, request_id: Any) -> None:
        session = self._local.peek(session_id)
        task = session.in_flight.get(request_id) if session is not None else None
        if session is not None and task is not None:
            session.cancelled[request_id] = True
            task.cancel()

    def resolve_local(self, session_id: str, message: dict[str, Any]) -> None:
        session = self._local.peek(session_id)
        if session is not None:
            session.resolve(message)

    def refresh_subscriptions(self, session_id: str, subscriptions: list[str], revision: int | None) -> None:
        """Another replica changed this session's subscriptions: update this replica's copy in place (a GET
        stream held here filters by that very set), unless the copy is newer: messages from several replicas
        may arrive in another order than their writes. A message without a change number (from an older Bosun)
        is applied, then the record is read again."""
        session = self._local.peek(session_id)
        if session is None or session_id in self._local.unsaved:
            return
        if revision is not None:
            if revision >= session.revision:
                session.revision = revision
                session.subscriptions.clear()
                session.subscriptions.update(subscriptions)
            return
        session.subscriptions.clear()
        session.subscriptions.update(subscriptions)
        task = asyncio.get_running_loop().create_task(self._reload(session_id))
        self._reloading.add(task)
        task.add_done_callback(self._reloading.discard)

    async def _reload(self, session_id: str) -> None:
        if self._down:
            return
        try:
            raw = await self.redis.get(self._key(session_id))
        except FAILURES:
            return
        session = self._local.peek(session_id)
        if raw is not None and session is not None and session_id not in self._local.unsaved:
            refresh(session, orjson.loads(raw))
