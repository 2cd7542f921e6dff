"""A 2025-era session: what the protocol negotiated, and this process's plumbing for it.

A `Session` holds what the protocol negotiated (version, client capabilities,
log level, resource subscriptions) plus process-local plumbing (requests sent to
the client and awaiting answers, the GET stream). Where the negotiated part lives
and when an idle session expires is the store's business (`store.SessionStore`:
`memory.MemorySessionStore` by default, `redis_store.RedisSessionStore` across replicas).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bosun.protocol.call import SendMessage
from bosun.protocol.changes import Listener
from bosun.protocol.errors import McpError


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
    # The shared record's change number (`next_revision`): a copy applies a record or a message only if it is not
    # older than what the copy already holds, since reads and messages from several replicas arrive in any order.
    revision: int = 0
    touched: float = field(default_factory=time.monotonic)
    # When this replica last read the record from the shared store (or wrote it there), as far as that read can be
    # trusted; a Redis-backed store serves its copy without asking again for a while after (`freshness`).
    checked: float = float("-inf")
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
    # Called once when this replica's copy ends (deleted, expired, evicted): a bridge stops the session's child.
    closers: list[Callable[[], None]] = field(default_factory=list)

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
        closers, self.closers = self.closers, []
        for closer in closers:
            closer()


def apply_change(session: Session, level: str | None, subscribe: str | None, unsubscribe: str | None) -> None:
    if level is not None:
        session.log_level = level
    if subscribe is not None:
        session.subscriptions.add(subscribe)
    if unsubscribe is not None:
        session.subscriptions.discard(unsubscribe)


def next_revision(current: int) -> int:
    """The change number after `current`: always greater, and at least the wall clock in milliseconds, so a record
    written back after an outage is newer than changes other replicas made to it meanwhile."""
    return max(current + 1, time.time_ns() // 1_000_000)


def revision_of(record: dict[str, Any]) -> int:
    number = record.get("n")
    return number if type(number) is int else 0  # written by a Bosun without change numbers


def refresh(session: Session, record: dict[str, Any]) -> None:
    """A stored record's changeable fields, which another replica may have changed; in place (a GET stream holds the
    set). A record older than the copy is ignored: a read that set out before a change may return after it."""
    revision = revision_of(record)
    if revision < session.revision:
        return
    session.revision = revision
    session.log_level = record["l"]
    session.subscriptions.clear()
    session.subscriptions.update(record["s"])


class PendingRegistry(Protocol):
    """Where a session's requests to the client are known to be waiting, across replicas."""

    async def waiting(self, session_id: str, request_id: int, timeout: float) -> None: ...

    async def done(self, session_id: str, request_id: int) -> None: ...
