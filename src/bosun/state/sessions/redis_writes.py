"""The Redis session store's writes of more than one command: one field under WATCH, and an outage's replay.

Apart from `redis_store` so that module keeps to when it asks Redis and what it serves; these only say how a
write is made. They take keys already built (by the store's `_key`), so key names stay in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from bosun.protocol.errors import INTERNAL_ERROR, McpError
from bosun.state.sessions.fallback import LocalSessions
from bosun.state.sessions.lost import ENDED
from bosun.state.sessions.session import Session, next_revision, revision_of

_CONTENTION_RETRIES = 20
_BATCH = 500  # commands per write-back round trip, so one stays well inside the socket timeout


async def change_fields(redis: Redis, key: str, ttl: int, level: str | None, subscribe: str | None,
                        unsubscribe: str | None) -> dict[str, Any] | None:
    """Change one field of the record under WATCH (optimistic, retried); the record as written, or None if Redis has none.

    Six replicas subscribing the same session at once all keep their URI, where rewriting whole records lost some.
    """
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(_CONTENTION_RETRIES):
            try:
                await pipe.watch(key)
                raw = await pipe.get(key)
                if raw is None:
                    return None
                record = orjson.loads(raw)
                if level is not None:
                    record["l"] = level
                uris = set(record.get("s") or ())
                if subscribe is not None:
                    uris.add(subscribe)
                if unsubscribe is not None:
                    uris.discard(unsubscribe)
                record["s"] = sorted(uris)
                record["n"] = next_revision(revision_of(record))
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, orjson.dumps(record), ex=ttl)
                await pipe.execute()
                return dict(record)
            except WatchError:
                continue
    # Not an outage: the session is being changed faster than this replica can apply its change.
    raise McpError(INTERNAL_ERROR, "Session busy: changed concurrently; retry shortly", http_status=503)


async def replay(redis: Redis, local: LocalSessions, unsaved: dict[str, bool], deleted: dict[str, float],
                 key: Callable[[str], str], record: Callable[[Session], bytes], idle_seconds: float) -> int:
    """Write back an outage: `deleted` ids are deleted; `unsaved` sessions this replica changed (True) overwrite
    Redis's record, ones it only renewed (False) are restored if Redis lost them and renewed either way, each for
    what is left of its idle timeout. In batches of `_BATCH`, no transaction. Returns how many sessions were written."""
    commands: list[tuple[str, bytes | None, int, bool]] = [(key(i), None, 0, False) for i in deleted]
    now = time.monotonic()
    for session_id, changed in unsaved.items():
        session = local.peek(session_id)
        if session is None:
            continue
        ttl = int(idle_seconds - (now - session.touched))
        if ttl >= 1:
            if changed:
                session.revision = next_revision(session.revision)
            commands.append((key(session_id), record(session), ttl, changed))
    for start in range(0, len(commands), _BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for name, value, ttl, changed in commands[start:start + _BATCH]:
                if value is None:
                    pipe.set(name + ENDED, b"1", ex=max(1, int(idle_seconds)))  # the tombstone (`lost`), then
                    pipe.delete(name)
                elif changed:
                    pipe.set(name, value, ex=ttl)
                else:
                    pipe.set(name, value, ex=ttl, nx=True)  # restore if Redis lost it ...
                    pipe.expire(name, ttl)  # ... and renew it either way
            await pipe.execute()
    return sum(1 for _, value, _, _ in commands if value is not None)


async def write_back(redis: Redis, local: LocalSessions, key: Callable[[str], str],
                     record: Callable[[Session], bytes], idle_seconds: float) -> tuple[int, int]:
    """Replay the outage into Redis: deletions, then sessions changed (overwrite) or renewed (restore if lost).

    Loops until the log is empty, because requests keep adding to it while this awaits.
    On failure whatever was not confirmed goes back into the log for the next attempt.
    """
    sessions = deletions = 0
    while local.unsaved or local.deleted:
        unsaved, deleted = local.unsaved, local.deleted
        local.unsaved, local.deleted = {}, {}
        try:
            sessions += await replay(redis, local, unsaved, deleted, key, record, idle_seconds)
            deletions += len(deleted)
        except BaseException:
            for session_id, changed in unsaved.items():
                if session_id in local:
                    local.unsaved[session_id] = local.unsaved.get(session_id, False) or changed
            for session_id, when in deleted.items():
                local.deleted.setdefault(session_id, when)
            raise
    return sessions, deletions
