"""The change bus across replicas: Redis pub/sub.

A change published on one replica (a tool changed the tool list, a resource was
updated) must reach every stream subscribed to it, whichever replica holds the
stream: 2025 GET streams and 2026-07-28 `subscriptions/listen` streams alike. Each
replica delivers its own changes to its own streams at once (`ChangeHub.publish`)
and relays them on one channel; every replica listens and delivers the others'.

The bus also carries what a replica must hear about the 2025 sessions it holds
(`SessionRelay`): a `resources/subscribe` handled elsewhere updates the set its GET
stream filters by, so that set is never a stale copy; a client's answer to an
elicitation, sampling or roots request reaches the replica that asked, whichever
replica the POST landed on (a Redis key per waiting request says whether any
replica is waiting, so an answer nobody waits for is refused, not swallowed); a
cancellation or a DELETE reaches the replica running the request; a changed record
(log level, subscriptions) makes every other replica read its copy again. The
session store serves its copies without asking Redis only while this bus listens
(`listening`), and waits for `delivered` before a change or DELETE is answered.

Pub/sub is at-most-once: while Redis is unreachable, changes reach only the
replica they happened on (logged, at most once per 30 s), and the bus reconnects
by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any, Protocol

import orjson

from bosun.ops.logs import Throttled
from bosun.protocol.changes import ChangeHub, ChangeKind
from bosun.state.pubsub import listen_forever

log = logging.getLogger("bosun.changes")
_OUTBOX = 10_000


class LocalSessions(Protocol):
    """The replica's own copies of sessions, which other replicas' messages act on."""

    def refresh_subscriptions(self, session_id: str, subscriptions: list[str], revision: int | None) -> None: ...

    def end_local(self, session_id: str) -> None: ...

    def stale_local(self, session_id: str, record: dict[str, Any] | None = None) -> None: ...

    def listening(self, on: bool) -> None:
        """Whether this bus is subscribed: messages can reach the copies only while it is."""
        ...

    def cancel_local(self, session_id: str, request_id: Any) -> None: ...

    def resolve_local(self, session_id: str, message: dict[str, Any]) -> None: ...


class RedisChangeBus:
    def __init__(self, url: str, namespace: str, hub: ChangeHub, sessions: LocalSessions | None = None) -> None:
        from bosun.data.redis_client import redis_client

        self.redis = redis_client(url, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=15)
        self.namespace = namespace
        self.channel = f"{namespace}:changes"
        self.hub = hub
        self.sessions = sessions
        self.origin = secrets.token_hex(6)  # this replica: its own messages come back and are skipped
        self._warn = Throttled(log)
        self._listener: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        # One sender, in order: concurrent publishes on pooled connections could overtake one another. A future in
        # the queue is a marker (`delivered`): it is set once everything posted before it has been published.
        self._outbox: asyncio.Queue[bytes | asyncio.Future[None]] = asyncio.Queue(maxsize=_OUTBOX)
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self.hub.relay_to(self.relay)
        self._listener = asyncio.create_task(self._listen())
        self._sender = asyncio.create_task(self._send_all())

    async def close(self) -> None:
        self.hub.relay_to(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), 1.0)  # what this replica published still goes out
        for task in (self._listener, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # Sending.
    def relay(self, kind: ChangeKind, uri: str | None) -> None:
        self._post({"k": kind, "u": uri})

    # SessionRelay: what this replica tells the others about 2025 sessions.
    def subscriptions_changed(self, session_id: str, subscriptions: list[str], revision: int) -> None:
        self._post({"k": "session", "s": session_id, "subs": subscriptions, "n": revision})

    def cancel(self, session_id: str, request_id: Any) -> None:
        self._post({"k": "cancel", "s": session_id, "r": request_id})

    def ended(self, session_id: str) -> None:
        self._post({"k": "ended", "s": session_id})

    def session_changed(self, session_id: str, record: dict[str, Any] | None = None) -> None:
        """The session's record changed here (log level, subscriptions): other replicas read their copies again,
        and take the changed fields of `record` (as written, with its change number) in place meanwhile."""
        message: dict[str, Any] = {"k": "changed", "s": session_id}
        if record is not None:
            message.update(l=record.get("l"), subs=record.get("s"), n=record.get("n"))
        self._post(message)

    async def delivered(self, timeout: float = 1.0) -> None:
        """Return once everything posted so far is in every subscriber's socket (or failed), at most `timeout` later.

        Redis answers a PUBLISH in the same pass as it writes the message to the subscribers, and may answer the
        publisher first; a command sent after that answer is read only once the pass is over. So the sender sends
        one PING after the messages before the marker: its answer means the other replicas have the messages, and
        a client answered after this reaches another replica after the message did (the session store relies on
        it: a DELETE or a changed log level is seen by a copy elsewhere at that replica's next request).
        """
        marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._outbox.put_nowait(marker)
        except asyncio.QueueFull:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(marker), timeout)

    async def answer(self, session_id: str, message: dict[str, Any]) -> bool:
        request_id = message.get("id")
        if type(request_id) is not int:
            return False
        try:
            if not await self.redis.exists(self._pending(session_id, request_id)):
                return False
        except Exception as exc:
            self._warn.warning("change bus: could not look up a waiting request (%s)", type(exc).__name__)
            return False
        self._post({"k": "answer", "s": session_id, "m": message})
        return True

    # PendingRegistry: which requests to clients are waiting, on any replica.
    def _pending(self, session_id: str, request_id: int) -> str:
        return f"{self.namespace}:pending:{session_id}:{request_id}"

    async def waiting(self, session_id: str, request_id: int, timeout: float) -> None:
        try:
            await self.redis.set(self._pending(session_id, request_id), self.origin, ex=int(timeout) + 5)
        except Exception as exc:
            self._warn.warning("change bus: could not record a waiting request (%s); only this replica can take "
                               "its answer", type(exc).__name__)

    async def done(self, session_id: str, request_id: int) -> None:
        with contextlib.suppress(Exception):
            await self.redis.delete(self._pending(session_id, request_id))

    def _post(self, payload: dict[str, Any]) -> None:
        payload["o"] = self.origin
        try:
            self._outbox.put_nowait(orjson.dumps(payload))
        except asyncio.QueueFull:
            self._warn.warning("change bus: %d messages waiting for Redis; other replicas miss this one", _OUTBOX)

    async def _send_all(self) -> None:
        while True:
            data = await self._outbox.get()
            try:
                if not isinstance(data, bytes):
                    with contextlib.suppress(Exception):
                        await self.redis.ping()  # see `delivered`
                    if not data.done():
                        data.set_result(None)
                    continue
                await self.redis.publish(self.channel, data)
            except Exception as exc:
                self._warn.warning("change bus: could not publish (%s); other replicas miss this change", type(exc).__name__)
            finally:
                self._outbox.task_done()

    # Receiving.
    async def _listen(self) -> None:
        await listen_forever(self.redis, self.channel, self._received, self._listening, self._warn,
                             "change bus: lost Redis (%s); changes from other replicas resume when it is back")

    def _listening(self, on: bool) -> None:
        if on:
            self.subscribed.set()
        else:
            self.subscribed.clear()
        if self.sessions is not None:
            self.sessions.listening(on)

    def _received(self, data: Any) -> None:
        try:
            message = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return
        if type(message) is not dict or message.get("o") == self.origin:
            return
        kind = message.get("k")
        session_id = message.get("s")
        if type(session_id) is str and self.sessions is not None:
            self._session_message(kind, session_id, message)
        elif kind in ("tools", "prompts", "resources", "resource"):
            uri = message.get("u")
            self.hub.deliver(kind, uri if type(uri) is str else None)

    def _session_message(self, kind: Any, session_id: str, message: dict[str, Any]) -> None:
        sessions: LocalSessions = self.sessions  # type: ignore[assignment]
        revision = message.get("n")
        known = revision if type(revision) is int else None  # None: sent by a Bosun without change numbers
        if kind == "session" and type(message.get("subs")) is list:
            sessions.refresh_subscriptions(session_id, [uri for uri in message["subs"] if type(uri) is str], known)
        elif kind == "ended":
            sessions.end_local(session_id)
        elif kind == "changed":
            subscriptions, level = message.get("subs"), message.get("l")
            record = None
            if known is not None and isinstance(subscriptions, list) and (level is None or type(level) is str):
                record = {"l": level, "s": [uri for uri in subscriptions if type(uri) is str], "n": known}
            sessions.stale_local(session_id, record)
        elif kind == "cancel" and type(message.get("r")) in (int, str):
            sessions.cancel_local(session_id, message["r"])
        elif kind == "answer" and type(message.get("m")) is dict:
            sessions.resolve_local(session_id, message["m"])
