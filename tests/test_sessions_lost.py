"""A session Redis lost (a failover's last writes, an eviction) lives on from the copy of a replica using it.

What must hold, against a real private Redis, with the change bus left out so that no replica hears of another's
DELETE (as when its message is lost): a record missing while a replica holds the session in use is written back
from that copy and the session served, on the one-by-one read and on the batched read ahead; a session deleted on
another replica stays deleted (its tombstone says so), also when the DELETE lands while the copy is being written
back; a replica that does not hold the session answers a retryable 503 just after Redis moved, and 404 otherwise.
The failover tests (test_redis_topologies, test_redis_cluster_failover) check the same end to end: no session call
is ever answered 404.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bosun.protocol.errors import McpError
from conftest import free_port
from pg import PrivateRedis


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    private = PrivateRedis(free_port(), tmp_path)
    private.start()
    yield private
    private.stop()


def _stores(url: str, count: int) -> list:  # type: ignore[type-arg]
    from bosun.state.sessions.redis_store import RedisSessionStore

    stores = [RedisSessionStore(url) for _ in range(count)]
    for store in stores:
        store.listening(True)  # as the change bus does once subscribed: copies may be served
    return stores


def test_a_record_redis_lost_is_written_back_from_the_copy_in_use(server: PrivateRedis,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        holder, other = _stores(server.url, 2)
        try:
            opened = await holder.create("2025-11-25", {}, None, "alice", "alice")
            await holder.change(opened, subscribe="file:///kept")
            batched = [await holder.create("2025-11-25", {}, None, "alice", "alice") for _ in range(3)]
            with redis.Redis.from_url(server.url) as client:
                client.delete(*(holder._key(session.id) for session in [opened, *batched]))  # lost, no tombstone
                assert await holder._read(opened.id) is opened  # the one-by-one read: served from the copy ...
                assert await holder._read_many([session.id for session in batched]) == batched  # ... and in a batch
                await asyncio.sleep(0.1)
                assert all(client.exists(holder._key(session.id)) for session in [opened, *batched])  # written back
            elsewhere = await other.get(opened.id)  # a replica that never held it finds it again
            assert elsewhere is not None and elsewhere.subscriptions == {"file:///kept"} and elsewhere.owner == "alice"
        finally:
            for store in (holder, other):
                await store.close()

    with caplog.at_level(logging.WARNING, "bosun.sessions"):
        asyncio.run(asyncio.wait_for(scenario(), 15))
    assert "Redis had lost a session this replica holds in use" in caplog.text


def test_a_session_deleted_elsewhere_stays_deleted_though_its_message_never_came(server: PrivateRedis) -> None:
    async def scenario() -> None:
        holder, other = _stores(server.url, 2)
        try:
            sessions = [await holder.create("2025-11-25", {}, None, "alice", "alice") for _ in range(3)]
            for session in sessions:
                assert await other.get(session.id) is not None
            first, *rest = sessions
            assert await other.delete(first.id)
            assert await holder._read(first.id) is None and holder._local.peek(first.id) is None  # a 404
            for session in rest:
                assert await other.delete(session.id)
            assert await holder._read_many([session.id for session in rest]) == [None, None]
            with redis.Redis.from_url(server.url) as client:
                assert not any(client.exists(holder._key(session.id)) for session in sessions)  # none came back

                # The DELETE lands while the copy is being written back: the tombstone is found after the write,
                # and the record goes again.
                racing = await holder.create("2025-11-25", {}, None, "alice", "alice")
                client.set(holder._key(racing.id) + ":ended", b"1")
                client.delete(holder._key(racing.id))
                assert holder._loaded(racing.id, None, 0.0, False) is racing  # the read found no tombstone yet
                await asyncio.sleep(0.1)
                assert not client.exists(holder._key(racing.id)) and holder._local.peek(racing.id) is None
        finally:
            for store in (holder, other):
                await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 15))


def test_a_replica_without_the_copy_says_retry_just_after_redis_moved_and_not_found_otherwise(server: PrivateRedis) -> None:
    from bosun.data import redis_moves
    from bosun.state.sessions.lost import SETTLE_SECONDS

    async def scenario() -> None:
        (store,) = _stores(server.url, 1)
        try:
            assert await store.get("never-opened") is None  # 404
            redis_moves.moved()  # the Sentinel client followed a failover
            with pytest.raises(McpError) as refused:
                await store.get("never-opened")
            assert refused.value.http_status == 503
            await asyncio.sleep(SETTLE_SECONDS + 0.05)
            assert await store.get("never-opened") is None
            store.listening(True)  # the change bus subscribed again: its connection was replaced
            started = time.monotonic()
            with pytest.raises(McpError):
                await store.get("never-opened")
            assert time.monotonic() - started < 1.0  # answered at once, not held
        finally:
            await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 15))
