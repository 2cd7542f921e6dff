"""`CallRelay`: reach the replica that holds something, and know who holds it.

A bridged `session` child lives on one replica, and so does a call parked for a 2026-07-28 client's
retry. A request for either may land on any replica; it is carried to the holder, and the holder's
answers come back the same way. `claim` says who holds a key (and claims it for this replica if no
one does); `send` carries one message to one replica and says whether that replica is there to
receive it, so a request for a dead replica's work gets a clear error at once instead of a wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class CallRelay(Protocol):
    replica: str
    """This replica's id, as other replicas address it."""

    async def start(self, handler: Handler) -> None:
        """Begin delivering messages addressed to this replica to `handler`."""

    async def send(self, replica: str, message: dict[str, Any]) -> bool:
        """Carry `message` to `replica`; False when no such replica is listening."""

    async def alive(self, replica: str) -> bool:
        """Whether `replica` is listening now."""

    async def claim(self, key: str) -> str:
        """The replica holding `key`: this one if no replica held it (it claims it now); a dead holder's id, marked
        gone, when the replica that held it died (its work is lost: `send` to it fails)."""

    async def release(self, key: str) -> None:
        """This replica no longer holds `key`."""

    async def close(self) -> None: ...
