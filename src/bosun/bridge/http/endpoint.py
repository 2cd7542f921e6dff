"""A remote server seen as a child: what the pool and `Child` ask of a `ChildProcess`, for one link to a remote.

It "starts" when its link is made and "exits" when the link is over: stopped (idle, its session or
call ended, shutdown; a 2025 session is ended with DELETE first, within the grace), or on its own (the
remote cannot be reached, its session is gone, its listen stream ended). The pool watches `exited()`
as it watches a process, so a remote that goes away fails its calls at once and counts as a crash
toward the backoff and the breaker. Its pid is 0: there is no process here to signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bosun.ops.logs import bounded

log = logging.getLogger("bosun.bridge")


class RemoteEndpoint:
    pid = 0

    def __init__(self, name: str, shown: str) -> None:
        self.name = name
        self.shown = shown  # the remote's URL, secrets masked
        self.started = time.monotonic()
        self.reason = "exited"  # why it ended, for the log and the pool (a "stopped ..." end is no crash)
        self.goodbye: Callable[[], Awaitable[None]] | None = None  # the link's own ending (a 2025 session's DELETE)
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._stopping: asyncio.Task[int] | None = None
        self._logged = False
        log.info("bridge %s: connecting to the remote server %s", name, shown)

    @property
    def label(self) -> str:
        """How the log names it (a process is "pid N")."""
        return f"the link to {self.shown}"

    @property
    def alive(self) -> bool:
        return not self._exit.done()

    async def exited(self) -> int:
        return await asyncio.shield(self._exit)

    async def wait(self) -> int:
        """Its "exit code" once over (0 stopped, 1 ended on its own), logged once."""
        code = await self.exited()
        if not self._logged:
            self._logged = True
            level = logging.INFO if self.reason.startswith("stopped") else logging.WARNING
            log.log(level, "bridge %s: the link to %s ended after %.1fs (%s)", self.name, self.shown,
                    time.monotonic() - self.started, bounded(self.reason, 300))
        return code

    async def stop(self, grace: float = 2.0, reason: str = "stopped") -> int:
        """End the link: its goodbye (within `grace`), then the exit. Only the first call does it; others wait."""
        if self._stopping is None:
            if self.alive:
                self.reason = reason
            self._stopping = asyncio.get_running_loop().create_task(self._stop(grace))
        return await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> int:
        if self.goodbye is not None:
            with contextlib.suppress(Exception, TimeoutError):
                await asyncio.wait_for(self.goodbye(), grace)
        if not self._exit.done():
            self._exit.set_result(0 if self.reason.startswith("stopped") else 1)
        return self._exit.result()
