"""Sessions for 2025-era clients, behind a small store interface.

A `Session` holds what the protocol negotiated (version, client capabilities,
log level, resource subscriptions) plus process-local plumbing (requests sent to
the client and awaiting answers, the GET stream). The store decides where the
negotiated part lives and when an idle session expires; `MemorySessionStore` is
the default, and a Redis store can implement the same four methods so another
replica can pick a session up.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from bosun.protocol.call import SendMessage
from bosun.protocol.changes import Listener
from bosun.protocol.errors import McpError
from bosun.protocol.observe import Observer
from bosun.transport.session_index import SessionIndex


@dataclass(eq=False)
class Session:
    id: str
    version: str
    capabilities: dict[str, Any]
    client_info: dict[str, Any] | None
    owner: str | None = None  # the principal that opened it; anyone else is told it does not exist
    client: str = "-"  # whose quota it counts against: the principal, or the peer address on an open server
    log_level: str | None = None
    subscriptions: set[str] = field(default_factory=set)
    touched: float = field(default_factory=time.monotonic)
    # Process-local plumbing, never persisted.
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    in_flight: dict[Any, asyncio.Task[Any]] = field(default_factory=dict)
    cancelled: dict[Any, bool] = field(default_factory=dict)
    stream: Listener | None = None
    request_timeout: float = 300.0
    # With replicas, the ids this copy gives its requests to the client must not collide with another
    # replica's for the same session, and `registry` says which requests are waiting somewhere.
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(secrets.randbits(40) + 1))
    registry: PendingRegistry | None = None
    closed: bool = False

    async def request(self, method: str, params: dict[str, Any], send: SendMessage) -> dict[str, Any]:
        """Send a request to the client on `send` and wait for its answer (sampling, elicitation, roots)."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        registry = self.registry
        try:
            if registry is not None:
                await registry.waiting(self.id, request_id, self.request_timeout)
            await send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            return await asyncio.wait_for(future, self.request_timeout)
        finally:
            self.pending.pop(request_id, None)
            if registry is not None:
                await asyncio.shield(registry.done(self.id, request_id))

    def resolve(self, message: dict[str, Any]) -> bool:
        """Hand a client's response to the request waiting for it; False if none is."""
        request_id = message.get("id")
        if type(request_id) is not int:
            return False  # the ids we send are integers; anything else answers nothing of ours
        future = self.pending.get(request_id)
        if future is None or future.done():
            return False
        error = message.get("error")
        if isinstance(error, dict):
            future.set_exception(McpError(int(error.get("code", -32603)), str(error.get("message", "client error")), error.get("data")))
        else:
            result = message.get("result")
            future.set_result(result if isinstance(result, dict) else {})
        return True

    def close(self) -> None:
        self.closed = True
        for future in self.pending.values():
            if not future.done():
                future.cancel()
        for task in self.in_flight.values():
            task.cancel()


def apply_change(session: Session, level: str | None, subscribe: str | None, unsubscribe: str | None) -> None:
    if level is not None:
        session.log_level = level
    if subscribe is not None:
        session.subscriptions.add(subscribe)
    if unsubscribe is not None:
        session.subscriptions.discard(unsubscribe)


class PendingRegistry(Protocol):
    """Where a session's requests to the client are known to be waiting, across replicas."""

    async def waiting(self, session_id: str, request_id: int, timeout: float) -> None: ...

    async def done(self, session_id: str, request_id: int) -> None: ...


class SessionRelay(Protocol):
    """What one replica tells the others about a 2025 session (the change bus, with replicas)."""

    async def answer(self, session_id: str, message: dict[str, Any]) -> bool:
        """Forward a client's response to the replica waiting for it; False if no replica is."""
        ...

    def cancel(self, session_id: str, request_id: Any) -> None: ...

    def ended(self, session_id: str) -> None: ...

    def subscriptions_changed(self, session_id: str, subscriptions: list[str]) -> None: ...


class SessionStore(Protocol):
    async def create(self, version: str, capabilities: dict[str, Any], client_info: dict[str, Any] | None,
                     owner: str | None = None, client: str | None = None) -> Session: ...

    async def get(self, session_id: str) -> Session | None: ...

    async def save(self, session: Session) -> None: ...

    async def change(self, session: Session, *, level: str | None = None, subscribe: str | None = None,
                     unsubscribe: str | None = None) -> None:
        """Change one field of a session, atomically where the session is shared: concurrent changes of
        other fields (on any replica) are never lost."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def expire(self) -> int: ...


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
