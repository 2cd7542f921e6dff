"""The watch over sessions in flight on PostgreSQL: a frozen server must not hold a call until a timeout fires.

A frozen server (SIGSTOP, a paused VM, a partition that drops packets) answers nothing, so a statement
already sent would wait for the client-side command deadline (the statement timeout plus a second), and
if the server thaws before that, its own statement timeout fires at once and the outage looks like the
caller's slow query. So one task per `Database`, running only while sessions are in flight, looks every
`tick` for a session in flight longer than `threshold`, and then asks PostgreSQL for a new connection
under `probe_timeout`:

* no answer (a timeout, or nobody listening): the database is down; `down()` is told, and every session
  that was in flight when the probe began has its connection cut, so its await fails at once and becomes
  the retryable 503 (PostgreSQL rolls the transaction back when it finds the connection gone);
* any answer, even a refusal ("too many clients"): the server is running; the sessions are a slow query
  on a live server, left to the statement timeout, and looked at again a threshold later.

A session on a frozen server therefore ends within `threshold + probe_timeout + tick`. Cost per session:
a dict insert and a delete. The probe never uses the pool: its connections are the ones stalled, and a
frozen server accepts a TCP connection but never answers its start-up, which is the question asked.
It must never cut a connection whose session has ended: that one may be back in the pool, serving
another call. Sessions leave before their connection is released, and the cut checks membership first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("bosun.db")


class InFlight:
    """Sessions in flight (a key each, the session's connection) and the one task that checks on stalled ones."""

    def __init__(self, threshold: float, answers: Callable[[], Awaitable[bool]], down: Callable[[int], None],
                 cut: Callable[[Any], None]) -> None:
        self.threshold = threshold
        self.tick = min(1.0, threshold / 4)
        self._answers = answers
        self._down = down
        self._cut = cut
        self._since: dict[Any, float] = {}  # session key -> when it entered, or when the server last answered a probe
        self._task: asyncio.Task[None] | None = None

    def enter(self, key: Any) -> None:
        """A session took its connection: watched from now until `leave`."""
        self._since[key] = time.monotonic()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="bosun-db-inflight")

    def leave(self, key: Any) -> None:
        """Before the connection is released: from here on it is no longer this session's to cut."""
        self._since.pop(key, None)

    async def _watch(self) -> None:
        try:
            while self._since:
                await asyncio.sleep(self.tick)
                now = time.monotonic()
                if all(now - since < self.threshold for since in self._since.values()):
                    continue
                suspects = list(self._since)  # on a frozen server none of them can be getting an answer either
                try:
                    alive = await self._answers()
                except Exception:
                    log.exception("database probe failed")
                    alive = True  # a fault of the probe itself is no evidence against the server
                if alive:
                    now = time.monotonic()
                    for key in suspects:
                        if key in self._since:
                            self._since[key] = now
                    continue
                stalled = [key for key in suspects if key in self._since]
                self._down(len(stalled))
                for key in stalled:
                    with contextlib.suppress(Exception):
                        self._cut(key)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def close(self) -> None:
        """Shutdown: stop the watch (the pool's disposal ends the sessions themselves)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def prober(dialect: Any, url: Any, connect_args: dict[str, Any]) -> Callable[[], Awaitable[bool]]:
    """`answers`, connecting as the pool does (the URL's arguments and the engine's `connect_args`), but on its own."""
    _, args = dialect.create_connect_args(url)
    for adapter_only in ("async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func"):
        args.pop(adapter_only, None)
    args.update(connect_args)
    return lambda: answers(args)


async def answers(connect_args: dict[str, Any]) -> bool:
    """Whether PostgreSQL answers a new connection's start-up within the connect timeout in `connect_args`."""
    import asyncpg  # type: ignore[import-untyped]

    try:
        connection = await asyncpg.connect(**connect_args)
    except OSError:  # no answer in time (TimeoutError), or nobody listening
        return False
    except Exception:
        return True  # an answer, if a refusal (too many clients, starting up): the server is running
    try:
        await asyncio.wait_for(connection.close(), connect_args.get("timeout") or 1.0)
    except asyncio.CancelledError:
        connection.terminate()
        raise
    except Exception:
        connection.terminate()
    return True
