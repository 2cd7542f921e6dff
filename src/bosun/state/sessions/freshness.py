"""When a replica may serve a Redis-backed 2025 session from its own copy, with no round trip to Redis.

Reading and renewing the record on every request (GETEX) was one synchronous round trip per request:
the 2025 session path with sessions in Redis ran at 0.39 of the same server without Redis (issue 22).
Most of those reads bring nothing new, so a replica serves a session it holds from its copy, and the
copy is kept true by what the change bus tells it rather than by asking.

A copy is served without asking Redis only while all of these hold:

1. this replica's change bus is subscribed (`listening`): without it nothing would tell the copy
   about a change made elsewhere, so every request reads Redis, as before;
2. the copy was read from Redis (or written there) after the bus last subscribed, and after the store
   last came back from an outage: messages missed while unsubscribed cannot leave a copy stale;
3. no message about the session (another replica's change or DELETE) arrived while that read was on
   its way (`epoch`), since the record it brought may predate the change;
4. that read is less than `interval` old (`REVALIDATE_SECONDS`, 1 s, or a quarter of the idle timeout
   if that is shorter).

Every change another replica makes to a session's record (log level, subscriptions) and every DELETE
is published on the bus before that replica answers its client (`SessionBus.delivered`: Redis has
written the message to every subscriber's socket by then); a replica that receives it marks its copy
stale (the next request reads Redis) or drops it. So a client that waited for the answer finds the
change on every replica: the message is in the other replica's socket before the client sends its
next request there, and an event loop handles sockets in the order they became readable, so even a
replica that was busy or descheduled, and finds both waiting, acts on the message first.

What a lost message costs is bounded by rule 4: a copy can serve an outdated record (a log level, a
deleted session, a record Redis evicted) for at most `interval` after the read that last confirmed
it, never longer. Pub/sub loses messages only around a broken connection: a subscriber's is rules 1
and 2's business (a subscription redis-py restores by itself is confirmed anew, and every copy is
read again after it; what was served in the milliseconds before is rule 4's), a publisher's failed
PUBLISH is rule 4's, and so is a record that changes in Redis without a message (evicted, edited).

The read that revalidates a copy also renews its record's TTL, so Redis is asked at most once per
`interval` per session and replica, and by one read (`once`): the requests that arrive meanwhile wait
for it rather than send their own. A copy in the second half of its interval is read again in the
background (`ahead`) while it is still served: a session in use is revalidated before any request has
to wait for it, and rule 4's bound is unchanged. Reads ahead that fall due within `GATHER_SECONDS` of
one another go to Redis together, as one pipeline: sessions opened together stay in step, and 64 of
them read one by one cost 64 tasks, pooled connections and round trips every half interval, a burst that
stalled every request in flight (issue 22: the production profile's 2025 path at 64 connections, one
session per connection, ran 5-7 % slower than over 16 sessions, with a higher p99).

It must not talk to Redis: the store reads, this module only decides when.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Protocol

from bosun.state.sessions.session import PendingRegistry, Session

log = logging.getLogger("bosun.sessions")
REVALIDATE_SECONDS = 1.0
GATHER_SECONDS = 0.01  # reads ahead due within this long of the first go together (the copy stays valid meanwhile)
NEVER = float("-inf")  # `Session.checked` of a copy that must be read again before it is served


ReadMany = Callable[[list[str]], Coroutine[Any, Any, list["Session | None | Exception"]]]
"""The store's read of several sessions at once: for each, its copy, None (gone), or the error one read would raise."""


class SessionBus(PendingRegistry, Protocol):
    """What the Redis session store needs of the change bus: where requests to clients wait (the registry),
    and a way to tell the other replicas' copies, confirmed before the client is answered."""

    def ended(self, session_id: str) -> None: ...

    def session_changed(self, session_id: str, record: dict[str, Any] | None = None) -> None:
        """The record changed here; `record`, as written, lets other copies take it in place."""
        ...

    async def delivered(self) -> None:
        """Return once what this replica posted so far is in Redis's hands (or could not be), within a bound."""
        ...


class Freshness:
    """The store's rules for serving a copy (see the module docstring)."""

    __slots__ = ("interval", "since", "epoch", "_reads", "_due", "_batches")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.since: float | None = None  # when the bus last subscribed; None while it is not
        self.epoch = 0  # bumped by every message about any session, so a read racing one is not trusted
        self._reads: dict[str, asyncio.Future[Session | None]] = {}  # a read of each session under way, shared
        self._due: dict[str, asyncio.Future[Session | None]] = {}  # reads ahead waiting for their batch
        self._batches: set[asyncio.Task[None]] = set()

    def listening(self, on: bool) -> None:
        """The bus subscribed (every copy read before now is suspect) or lost its subscription (none is trusted)."""
        self.since = time.monotonic() if on else None

    def restart(self) -> None:
        """The store is back from an outage: copies read before now are suspect, whatever the bus says."""
        if self.since is not None:
            self.since = time.monotonic()

    def stale(self, session: Session | None) -> None:
        """A message about a session: its copy (if held) is read again at its next use, and reads under way are not trusted."""
        self.epoch += 1
        if session is not None:
            session.checked = NEVER

    def read_started(self) -> tuple[float, int]:
        """Stamp a read before it leaves: the copy it brings is as fresh as this moment, if nothing arrives meanwhile."""
        return time.monotonic(), self.epoch

    def checked(self, stamp: tuple[float, int]) -> float:
        """What to record in `Session.checked` once the read stamped `stamp` has come back."""
        started, epoch = stamp
        return started if epoch == self.epoch else NEVER

    async def once(self, session_id: str, read: Callable[[str], Coroutine[Any, Any, Session | None]]) -> Session | None:
        """`read(session_id)`, shared by every request that asks while it runs.

        A task of its own: a request whose client leaves cancels its wait, not the others' read.
        """
        task = self._reads.get(session_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(read(session_id))
            self._reads[session_id] = task
            task.add_done_callback(partial(self._done, session_id))
        return await asyncio.shield(task)

    def ahead(self, session_id: str, read_many: ReadMany) -> None:
        """Read `session_id` again in the background unless a read is under way: a copy past half its interval is
        read again before it must be, so a busy session's requests never wait for the read (issue 22: those
        that did made the session path's p99). Batched with the others due within `GATHER_SECONDS`."""
        if session_id in self._reads:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Session | None] = loop.create_future()
        self._reads[session_id] = future
        future.add_done_callback(partial(self._done, session_id))
        if not self._due:
            loop.call_later(GATHER_SECONDS, self._gathered, read_many)
        self._due[session_id] = future

    def _gathered(self, read_many: ReadMany) -> None:
        due, self._due = self._due, {}
        task = asyncio.get_running_loop().create_task(self._read_due(due, read_many))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    @staticmethod
    async def _read_due(due: dict[str, asyncio.Future[Session | None]], read_many: ReadMany) -> None:
        """One batch: each session's outcome (its copy, None, or the error a single read would have raised) to its future."""
        try:
            outcomes = await read_many(list(due))
        except asyncio.CancelledError:
            for future in due.values():  # shut down: nobody is left waiting
                if not future.done():
                    future.cancel()
            raise
        except Exception as exc:  # the store's failures are outcomes: this is a bug, and the waiters hear of it
            log.exception("reading sessions ahead failed")
            outcomes = [exc] * len(due)
        for future, outcome in zip(due.values(), outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _done(self, session_id: str, task: asyncio.Future[Session | None]) -> None:
        if self._reads.get(session_id) is task:
            del self._reads[session_id]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone
