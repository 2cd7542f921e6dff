"""The seam between the HTTP transport and wherever 2025 sessions live.

`SessionStore` is what the transport asks of a store (create, get, save, change,
delete, expire); `memory.MemorySessionStore` and `redis_store.RedisSessionStore`
implement it. `SessionRelay` is what one replica tells the others about a session
(the change bus implements it when sessions span replicas).
"""

from __future__ import annotations

from typing import Any, Protocol

from bosun.state.sessions.session import Session


class SessionRelay(Protocol):
    """What one replica tells the others about a 2025 session (the change bus, with replicas)."""

    async def answer(self, session_id: str, message: dict[str, Any]) -> bool:
        """Forward a client's response to the replica waiting for it; False if no replica is."""
        ...

    def cancel(self, session_id: str, request_id: Any) -> None: ...

    def ended(self, session_id: str) -> None: ...

    def subscriptions_changed(self, session_id: str, subscriptions: list[str], revision: int) -> None:
        """`subscriptions` as of the record's change number `revision` (`Session.revision`)."""
        ...


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
