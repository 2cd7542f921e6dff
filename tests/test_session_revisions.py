"""A copy of a shared 2025 session never goes back to an older record, whatever order reads and messages arrive in.

Each change of a record in Redis gives it a greater change number (`Session.revision`). Replicas hear of a change
twice (the store's "changed" message, carrying the record as written, and the transport's subscriptions message)
and may read the record again meanwhile; under load, on a Cluster, these arrive in any order. A copy that applied
them in arrival order could lose a subscription its GET stream must enforce: one of 120 was lost that way in a
loaded CI run (test_change_bus's concurrent subscribes, on a three-primary Cluster). These tests deliver the
messages and the reads out of order on purpose, against a real private Redis.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import redis

from conftest import free_port
from pg import PrivateRedis


@pytest.fixture()
def server(tmp_path: Path) -> PrivateRedis:
    private = PrivateRedis(free_port(), tmp_path)
    private.start()
    yield private  # type: ignore[misc]
    private.stop()


def test_changes_out_of_order_leave_every_copy_at_the_newest_record(server: PrivateRedis) -> None:
    from bosun.state.sessions.redis_store import RedisSessionStore

    async def scenario() -> None:
        first, second, third = (RedisSessionStore(server.url) for _ in range(3))
        for store in (first, second, third):
            store.listening(True)  # as the change bus does once subscribed: copies may be served
        try:
            opened = await first.create("2025-11-25", {}, None, "alice", "alice")
            on_second, on_third = await second.get(opened.id), await third.get(opened.id)
            assert on_second is not None and on_third is not None
            with redis.Redis.from_url(server.url) as client:
                key = first._key(opened.id)
                await first.change(opened, subscribe="file:///x")
                older = orjson.loads(client.get(key))
                await second.change(on_second, subscribe="file:///y")
                newer = orjson.loads(client.get(key))
            assert newer["n"] > older["n"] and newer["s"] == ["file:///x", "file:///y"]

            # The newer change's messages arrive first, then the older one's, then a read that set out before.
            third.stale_local(opened.id, newer)
            third.stale_local(opened.id, older)
            third.refresh_subscriptions(opened.id, older["s"], older["n"])
            third._loaded(opened.id, orjson.dumps(older), 0.0)
            assert on_third.subscriptions == {"file:///x", "file:///y"} and on_third.revision == newer["n"]
            # The first replica's own copy heard of the second's change: it too stays at the newer record.
            first.refresh_subscriptions(opened.id, newer["s"], newer["n"])
            first._loaded(opened.id, orjson.dumps(older), 0.0)
            assert opened.subscriptions == {"file:///x", "file:///y"}

            # An unsubscribe is a newer change too: the set shrinks everywhere it is heard.
            await first.change(opened, unsubscribe="file:///x")
            third.refresh_subscriptions(opened.id, sorted(opened.subscriptions), opened.revision)
            third.stale_local(opened.id, newer)
            assert on_third.subscriptions == {"file:///y"}

            # A message from a Bosun without change numbers is applied as before, then the record is read again.
            third.refresh_subscriptions(opened.id, ["file:///stale"], None)
            await asyncio.sleep(0.2)
            assert on_third.subscriptions == {"file:///y"}
        finally:
            for store in (first, second, third):
                await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 15))


def test_a_change_written_back_after_an_outage_is_newer_than_the_record_it_overwrites(server: PrivateRedis) -> None:
    """A replica that changed a session while Redis was unreachable overwrites the record when Redis returns; its
    copy's change number was older, so the written record takes one greater than any before it (the wall clock in
    ms), and the other replicas' copies apply it rather than ignore it as old."""
    from bosun.state.sessions.redis_store import RedisSessionStore
    from bosun.state.sessions.redis_writes import write_back

    async def scenario() -> None:
        first, second = RedisSessionStore(server.url), RedisSessionStore(server.url)
        for store in (first, second):
            store.listening(True)
        try:
            opened = await first.create("2025-11-25", {}, None, "alice", "alice")
            elsewhere = await second.get(opened.id)
            assert elsewhere is not None
            for index in range(3):
                await second.change(elsewhere, subscribe=f"file:///{index}")  # changes the first never heard of
            opened.log_level = "error"  # changed here while Redis was unreachable ...
            await asyncio.sleep(0.05)  # ... which lasts longer than the ms the three changes above took
            first._local.unsaved[opened.id] = True
            await write_back(first.redis, first._local, first._key, first._record, 60.0)
            with redis.Redis.from_url(server.url) as client:
                written = orjson.loads(client.get(first._key(opened.id)))
            assert written["l"] == "error" and written["n"] > elsewhere.revision
            second.stale_local(opened.id, written)
            assert elsewhere.log_level == "error" and elsewhere.subscriptions == set(written["s"])
        finally:
            for store in (first, second):
                await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 15))
