"""One process: every key is this replica's and every message is for itself."""

from __future__ import annotations

from typing import Any

from bosun.state.relay.relay import Handler


class LocalRelay:
    replica = "local"

    def __init__(self) -> None:
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def send(self, replica: str, message: dict[str, Any]) -> bool:
        if replica != self.replica or self._handler is None:
            return False
        await self._handler(message)
        return True

    async def alive(self, replica: str) -> bool:
        return replica == self.replica

    async def claim(self, key: str) -> str:
        return self.replica

    async def release(self, key: str) -> None:
        return None

    async def close(self) -> None:
        self._handler = None
