"""2025-era sessions in Redis, so any replica can serve any session without sticky routing.

What a session negotiated (version, client capabilities, client info, log level,
resource subscriptions) lives in Redis under a key that expires after the idle
timeout and is renewed while the session is used. Each replica keeps its own copy of the
sessions it touches (`LocalSessions`: bounded, idle-expired), with the plumbing
(the GET stream it holds, requests it sent to the client).

When Redis fails (refused, timed out, erroring), the replica stops asking it and
serves from that copy: sessions it holds keep working, `initialize` opens sessions
here, and changes, renewals and deletions are remembered. A session it does not
hold waits up to `HOLD_SECONDS` for Redis, then gets a retryable 503, never a 404. One task retries Redis every
`retry_seconds`, and at once when the change bus subscribes again (a new primary answers) or such a request
waits; the remembered work is written back, and only then do requests go to Redis.

With Redis healthy, a session this replica holds is served from its copy too, with no
round trip, while the change bus keeps that copy true (`freshness`: the rules, and the
bound on a stale copy: at most `REVALIDATE_SECONDS`, 1 s, after a lost message). Redis is
read, and the record's TTL renewed, at most once per that interval per session and
replica; the TTL is the idle timeout plus that interval, so a record outlives its last
use anywhere by at least the idle timeout. A session this replica does not hold costs
one round trip, and is held from then on.

Recovery is one transition: pooled connections are dropped before Redis is tried again,
and the client (`redis_client`) retries a command that meets a dead one on a fresh one.
A session opened in an outage has an id of its own (`sessions_offline`): a replica that
misses it in Redis before its write-back answers a retryable 503 for a while, not 404.
A record missing from Redis while this replica holds the session in use was lost by Redis (a failover's last
writes, an eviction) unless a DELETE left its tombstone: the copy is written back and served (`lost`). A replica
that does not hold it answers a retryable 503 for `SETTLE_SECONDS` after Redis moved (an outage ended, the bus
reconnected, the Sentinel client followed a failover), 404 otherwise.

A field a client changes (log level, a subscription) is written alone, under WATCH (`change`), so changes
made at once on several replicas never lose one another. What other replicas must hear (answers to this
replica's requests to the client, cancellations, DELETEs, changed records, subscription sets) travels on
the change bus (`changes.redis_bus`), which calls this store's `*_local` methods and `listening`.
Limit: during an outage a session is served only by replicas that already hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from bosun.data.redis_client import redis_client
from bosun.ops.logs import Throttled
from bosun.protocol.errors import McpError
from bosun.protocol.observe import Observer
from bosun.state.sessions.fallback import LocalSessions
from bosun.state.sessions.freshness import REVALIDATE_SECONDS, Freshness, SessionBus
from bosun.state.sessions.lost import LostSessions
from bosun.state.sessions.offline import FAILURES as _FAILURES
from bosun.state.sessions.offline import GRACE_RETRIES, Unwritten, is_offline, offline_id, unavailable
from bosun.state.sessions.redis_writes import change_fields, write_back
from bosun.state.sessions.session import Session, apply_change, refresh

log = logging.getLogger("bosun.sessions")

_WARN_EVERY = 30.0
HOLD_SECONDS = 0.5  # how long a request waits for Redis to be found again, or for another replica's write-back
_RETRY_SPACING = 0.1


class RedisSessionStore(LostSessions):
    """Sessions in Redis, served from this replica's bounded copy while Redis is unavailable.

    `max_sessions` and `max_per_client` bound that copy (least recently used idle sessions go first, ones
    Redis also holds before ones only this replica holds); while Redis is down a full copy refuses
    `initialize` with a retryable 503. `retry_seconds` is how long Redis is left alone after a failure:
    requests never wait on a dead Redis, one background ping does. `revalidate_seconds` bounds how long a
    copy is served without asking Redis (a quarter of the idle timeout if shorter; see `freshness`)."""

    def __init__(self, url: str, namespace: str = "bosun", idle_seconds: float = 1800.0, request_timeout: float = 300.0,
                 observer: Observer | None = None, timeout: float = 0.5, max_sessions: int = 10_000,
                 max_per_client: int = 100, retry_seconds: float = 1.0, revalidate_seconds: float = REVALIDATE_SECONDS) -> None:
        self.redis = redis_client(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.namespace = namespace
        self.idle_seconds = idle_seconds
        self.request_timeout = request_timeout
        self.observer = observer
        self.retry_seconds = retry_seconds
        self._fresh = Freshness(min(revalidate_seconds, idle_seconds / 4))
        # Renewed at most once per interval: a record must outlive the last use of a copy served meanwhile.
        self._ttl = max(1, math.ceil(idle_seconds + self._fresh.interval))
        self._local = LocalSessions(idle_seconds, max_sessions, max_per_client, observer)
        self._unwritten = Unwritten(GRACE_RETRIES * retry_seconds, idle_seconds, max_sessions)
        # Set to the change bus (state.replicas): where requests to clients wait, and how other replicas' copies
        # hear of a change or a DELETE made here. Without it no copy is trusted: every request reads Redis.
        self.registry: SessionBus | None = None
        self._reloading: set[asyncio.Task[None]] = set()
        self._restoring: set[asyncio.Task[None]] = set()  # copies being written back to a Redis that lost them (`lost`)
        self._restored = Throttled(log, _WARN_EVERY)
        self._subscriptions = 0  # how often the change bus has subscribed (`lost.bus_subscribed`)
        self._resubscribed_at = -math.inf
        self._down = False  # True from a failure until the retry task has written back and Redis answers again
        self._retrying: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # set when the change bus finds Redis again, or a request waits: retry at once
        self._up = asyncio.Event()  # set while Redis is in use (not `_down`)
        self._up.set()
        self._back_at = -math.inf  # when Redis was last found again after an outage
        self._outage = Throttled(log, _WARN_EVERY)
        self._warned = False  # an outage warning was logged since the last "back" line

    def _key(self, session_id: str) -> str:
        return f"{self.namespace}:session:{session_id}"

    @staticmethod
    def _record(session: Session) -> bytes:
        return orjson.dumps({"v": session.version, "c": session.capabilities, "i": session.client_info,
                             "o": session.owner, "k": session.client, "l": session.log_level,
                             "s": sorted(session.subscriptions), "n": session.revision})

    # The store interface.
    async def create(self, version: str, capabilities: dict[str, Any], client_info: dict[str, Any] | None,
                     owner: str | None = None, client: str | None = None) -> Session:
        """Written to Redis; while Redis is down, kept here (within the caps) and written back when it returns."""
        session = Session(secrets.token_urlsafe(24), version, capabilities, client_info, owner,
                          request_timeout=self.request_timeout, registry=self.registry)
        session.client = client or owner or "-"
        if not self._down:
            stamp = self._fresh.read_started()
            try:
                await self.redis.set(self._key(session.id), self._record(session), ex=self._ttl)
            except _FAILURES as exc:
                self._failed(exc)
            else:
                session.checked = self._fresh.checked(stamp)
                self._local.add(session, strict=False)
                return session
        session.id = offline_id()  # not shared yet: other replicas answer 503 for it, not 404, until written back
        self._local.add(session, strict=True)
        self._local.unsaved[session.id] = True
        return session

    async def get(self, session_id: str) -> Session | None:
        """This replica's copy while it may be trusted (no round trip); else one read of Redis, shared by the
        requests that ask meanwhile; during an outage, the copy or a retryable 503."""
        if self._down:
            return await self._held_or_back(session_id)
        fresh = self._fresh
        if fresh.since is not None:
            session = self._local.get(session_id)
            if session is not None:
                now = time.monotonic()
                checked = session.checked
                if now - checked < fresh.interval and checked >= fresh.since:
                    if now - checked > fresh.interval / 2:
                        fresh.ahead(session_id, self._read_many)
                    session.touched = now
                    return session
                return await fresh.once(session_id, self._read)
        return await self._read(session_id)

    async def _read(self, session_id: str) -> Session | None:
        """One round trip: the record, its TTL renewed; this replica's copy if Redis fails now. A session another
        replica opened in an outage and has not written back yet is read again for up to `HOLD_SECONDS`."""
        deadline = time.monotonic() + HOLD_SECONDS
        while not self._down:
            stamp = self._fresh.read_started()
            try:
                raw = await self.redis.getex(self._key(session_id), ex=self._ttl)
            except _FAILURES as exc:
                self._failed(exc)
                break
            if (raw is None and is_offline(session_id) and session_id not in self._local and time.monotonic() < deadline
                    and time.monotonic() - self._back_at < self._unwritten.grace_seconds):  # only just after an outage
                await asyncio.sleep(0.05)
                continue
            try:  # missing, but held here: lost by Redis, or deleted elsewhere (its tombstone says which)?
                deleted = bool(raw is None and self.restorable(session_id, time.monotonic())
                               and await self.deleted([session_id]))
            except _FAILURES as exc:
                self._failed(exc)
                break
            return self._loaded(session_id, raw, self._fresh.checked(stamp), deleted)
        return self._held(session_id)

    async def _read_many(self, session_ids: list[str]) -> list[Session | None | Exception]:
        """Reads ahead of copies this replica holds, as one pipeline: one round trip (per node of a cluster)."""
        if not self._down:
            stamp = self._fresh.read_started()
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for session_id in session_ids:
                        pipe.getex(self._key(session_id), ex=self._ttl)
                    raws = await pipe.execute()
                now = time.monotonic()
                deleted = await self.deleted([i for i, raw in zip(session_ids, raws, strict=True)
                                              if raw is None and self.restorable(i, now)])
            except _FAILURES as exc:
                self._failed(exc)
            else:
                checked = self._fresh.checked(stamp)
                return [_outcome(self._loaded, session_id, raw, checked, session_id in deleted)
                        for session_id, raw in zip(session_ids, raws, strict=True)]
        return [_outcome(self._held, session_id) for session_id in session_ids]

    async def save(self, session: Session) -> None:
        if not self._down:
            try:
                await self.redis.set(self._key(session.id), self._record(session), ex=self._ttl)
                return
            except _FAILURES as exc:
                self._failed(exc)
        if session.id in self._local:
            self._local.unsaved[session.id] = True  # the change wins over Redis's record when written back

    async def change(self, session: Session, *, level: str | None = None, subscribe: str | None = None,
                     unsubscribe: str | None = None) -> None:
        """One field, changed in Redis under WATCH (optimistic, retried): six replicas subscribing the same
        session at once all keep their URI, where rewriting whole records lost some."""
        apply_change(session, level, subscribe, unsubscribe)
        if not self._down:
            try:
                record = await change_fields(self.redis, self._key(session.id), self._ttl, level, subscribe, unsubscribe)
            except _FAILURES as exc:
                self._failed(exc)
            else:
                if record is None:
                    await self.save(session)  # not in Redis (opened in an outage, written back meanwhile)
                elif session.id not in self._local.unsaved:
                    refresh(session, record)
                await self._tell(session.id, ended=False, record=record)  # other replicas' copies take it in place
                return
        if session.id in self._local:
            self._local.unsaved[session.id] = True

    async def _tell(self, session_id: str, ended: bool, record: dict[str, Any] | None = None) -> None:
        """Tell the other replicas' copies, and wait until Redis has the message: the client is answered after it.
        A changed record travels whole, so a GET stream elsewhere filters by the new subscriptions before the answer."""
        bus = self.registry
        if bus is not None:
            if ended:
                bus.ended(session_id)
            else:
                bus.session_changed(session_id, record)
            await bus.delivered()

    async def delete(self, session_id: str) -> bool:
        if not self._down:
            try:
                await self.bury(session_id)  # first: a copy elsewhere that misses the record must not restore it
                removed = bool(await self.redis.delete(self._key(session_id)))
            except _FAILURES as exc:
                self._failed(exc)
            else:
                removed = removed or session_id in self._local.unsaved  # opened in an outage, not written back yet
                self._fresh.stale(self._local.drop(session_id))  # and a read under way brings no trusted copy back
                self._unwritten.ended(session_id, time.monotonic())
                if removed:
                    await self._tell(session_id, ended=True)  # a request of it may be running on another replica
                return removed
        if session_id not in self._local:
            raise unavailable()
        self._local.deleted_during_outage(session_id, time.monotonic())
        self._unwritten.ended(session_id, time.monotonic())
        if self.registry is not None:
            self.registry.ended(session_id)  # likely lost with Redis down; not waited for
        return True

    async def expire(self) -> int:
        """Drop this replica's copies of idle sessions (Redis expires the records by itself)."""
        return self._local.expire()

    async def close(self) -> None:
        """Write back what only this replica knows, if Redis is there to take it, then let go."""
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrying
        for task in list(self._restoring):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 1.0)  # a copy being written back to a Redis that lost it
        if self._local.unsaved or self._local.deleted:
            try:
                await self._write_back()
            except _FAILURES as exc:
                log.warning("session store unavailable at shutdown (%s); %d sessions and %d deletions from the outage "
                            "were not written back", type(exc).__name__, len(self._local.unsaved), len(self._local.deleted))
        self._local.close()
        await self.redis.aclose()

    # Serving from Redis, or from this replica's copy.
    def _loaded(self, session_id: str, raw: bytes | str | None, checked: float, deleted: bool = False) -> Session | None:
        session = self._local.get(session_id)
        now = time.monotonic()
        if raw is None:
            return self.missing(session_id, session, now, checked, deleted)
        self._unwritten.found(session_id)
        if session is None:
            record = orjson.loads(raw)
            session = Session(session_id, record["v"], record["c"], record["i"], record.get("o"),
                              request_timeout=self.request_timeout, registry=self.registry)
            session.client = record.get("k") or record.get("o") or "-"
            self._local.add(session, strict=False)
            refresh(session, record)
        elif session_id not in self._local.unsaved:  # else this replica's change is newer; its write-back is under way
            refresh(session, orjson.loads(raw))
        session.touched = now
        session.checked = checked
        return session

    # What other replicas tell this one (the change bus): `heard.HeardFromReplicas`, and this.
    def listening(self, on: bool) -> None:
        """The change bus subscribed, or lost its subscription: copies are trusted only while it listens. A bus
        that subscribes again during an outage has found Redis (a new primary): retry now, not at the next tick."""
        self._fresh.listening(on)
        self.bus_subscribed(on)
        if on and self._down:
            self._wake.set()

    async def _held_or_back(self, session_id: str) -> Session | None:
        """Redis is down. A session this replica does not hold waits a moment (`HOLD_SECONDS`) for the retry, which it
        nudges, before its 503: a cluster whose new primary is already elected answers within that moment."""
        if self._local.peek(session_id) is None:
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._up.wait(), HOLD_SECONDS)
            if not self._down:
                return await self._read(session_id)
        return self._held(session_id)

    def _held(self, session_id: str) -> Session:
        """Redis is down: this replica's copy, or a retryable 503 (not 404: Redis may well hold it)."""
        session = self._local.get(session_id)
        now = time.monotonic()
        if session is None or self._local.idle(session, now):
            if session is not None:
                self._local.drop(session_id)
            raise unavailable()
        session.touched = now
        self._local.unsaved.setdefault(session_id, False)  # renewed here; Redis may have lost it
        return session

    # Outage and recovery.
    def _failed(self, exc: Exception) -> None:
        """Stop asking Redis, say so (at most every 30 s), and start the one task that retries it."""
        self._down = True
        self._up.clear()
        self._warn(exc)
        if self._retrying is None or self._retrying.done():
            # A fresh context: the task outlives the request that noticed, and must not log under its request id.
            self._retrying = asyncio.get_running_loop().create_task(self._retry(), context=contextvars.Context())

    def _warn(self, exc: BaseException) -> None:
        self._warned = True
        self._outage.warning("session store unavailable: %s: %s; serving the %d sessions this replica holds, "
                             "retrying every %gs", type(exc).__name__, exc, len(self._local), self.retry_seconds)

    async def _retry(self) -> None:
        while True:
            await asyncio.sleep(_RETRY_SPACING)  # nudged by every waiting request, still at most this often
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.retry_seconds)
            try:
                # Pooled before the outage: dead if Redis restarted, suspect if it hung. Recovery starts on fresh ones.
                await self.redis.connection_pool.disconnect(inuse_connections=False)
                sessions, deletions = await self._write_back()
            except Exception as exc:  # anything: this task ending early would leave the replica off Redis for good
                self._warn(exc)
                continue
            self._down = False  # no await since the write-back emptied the log: nothing slips in between
            self._up.set()
            self._back_at = time.monotonic()
            self._fresh.restart()  # what happened meanwhile is read from Redis, not trusted to the bus
            if self._warned:
                self._warned = False
                log.warning("session store available again; wrote back %d sessions and %d deletions from the outage",
                            sessions, deletions)
            return

    async def _write_back(self) -> tuple[int, int]:  # redis_writes.write_back: the outage replayed
        await self.redis.ping()
        return await write_back(self.redis, self._local, self._key, self._record, self.idle_seconds)


def _outcome(read: Callable[..., Session | None], *args: Any) -> Session | None | Exception:
    """What `read(*args)` returns, or the error it raises (a retryable 503), for one session of a batch."""
    try:
        return read(*args)
    except McpError as error:
        return error
