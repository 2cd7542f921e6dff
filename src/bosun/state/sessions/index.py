"""Sessions by id in least-recently-used order, with each client's sessions in the same order.

Both session stores bound what they hold the same way (a global cap and a per-client
cap, evicting the least recently used idle session), so both keep this index; what
they evict first, and what evicting means for them, stays theirs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bosun.state.sessions.session import Session


class SessionIndex:
    __slots__ = ("sessions", "by_client")

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}  # least recently used first (dicts keep insertion order)
        self.by_client: dict[str, dict[str, None]] = {}  # client -> its session ids, in the same order

    def __len__(self) -> int:
        return len(self.sessions)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self.sessions

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self.sessions.values()))

    def peek(self, session_id: str) -> Session | None:
        """The session without counting it as used."""
        return self.sessions.get(session_id)

    def use(self, session_id: str) -> Session | None:
        """The session, moved to the most recently used end of both orders."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return None
        self.sessions[session_id] = session
        mine = self.by_client.get(session.client)
        if mine is not None:
            mine[session_id] = mine.pop(session_id, None)
        return session

    def add(self, session: Session) -> None:
        self.sessions[session.id] = session
        self.by_client.setdefault(session.client, {})[session.id] = None

    def of_client(self, client: str) -> dict[str, None] | None:
        """The client's session ids, least recently used first (None if it holds none)."""
        return self.by_client.get(client)

    def remove(self, session_id: str) -> Session | None:
        """Take the session out of both orders (closing it is the caller's part)."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return None
        mine = self.by_client.get(session.client)
        if mine is not None:
            mine.pop(session_id, None)
            if not mine:
                del self.by_client[session.client]
        return session
