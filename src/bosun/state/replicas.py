"""What a server shares with its other replicas when `REDIS_URL` is set, built in one place.

With Redis, 2025 sessions live in Redis (any replica serves any session), a resumable
stream's events too (a client resumes on any replica), and a change bus carries what
every replica must hear: list changes, resource updates, and for shared sessions the
client's answers, cancellations and DELETEs. Without Redis, none of these are built and
the in-memory defaults serve one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bosun.protocol.changes import ChangeHub
from bosun.protocol.observe import Observer
from bosun.state.events.store import EventStore
from bosun.state.sessions.store import SessionStore


@dataclass(frozen=True, slots=True)
class Replicated:
    store: SessionStore | None  # None: the transport builds its in-memory store
    events: EventStore | None
    bus: Any  # RedisChangeBus | None; a SessionRelay when sessions are shared
    sessions_shared: bool


def replicated(redis_url: str, namespace: str, hub: ChangeHub, store: SessionStore | None, observer: Observer | None,
               idle_seconds: float, request_timeout: float, max_sessions: int, max_per_client: int) -> Replicated:
    """The shared session store (unless the caller brought one), event store and change bus, or nothing without Redis."""
    if not redis_url:
        return Replicated(store, None, None, False)
    from bosun.state.changes.redis_bus import RedisChangeBus
    from bosun.state.events.redis_store import RedisEventStore
    from bosun.state.sessions.redis_store import RedisSessionStore

    if store is None:
        store = RedisSessionStore(redis_url, namespace, idle_seconds, request_timeout, observer,
                                  max_sessions=max_sessions, max_per_client=max_per_client)
    shared = store if isinstance(store, RedisSessionStore) else None
    bus = RedisChangeBus(redis_url, namespace, hub, shared)
    if shared is not None:
        shared.registry = bus  # requests to a client wait where any replica can answer them
    return Replicated(store, RedisEventStore(redis_url, namespace), bus, shared is not None)


def call_relay(redis_url: str, namespace: str) -> Any:
    """How a bridge reaches the replica holding a session's child or a parked call: Redis, or this process alone."""
    if not redis_url:
        from bosun.state.relay.memory import LocalRelay

        return LocalRelay()
    from bosun.state.relay.redis_relay import RedisCallRelay

    return RedisCallRelay(redis_url, namespace)
