"""2025 sessions in Redis, served from each replica's own copy: no Redis round trip per request, nothing stale.

Two replicas share a private Redis, with a short idle timeout (3 s), so the copy's revalidation interval is
0.75 s (a quarter of it) and a session's record would expire within seconds if using a copy did not renew it.
What must hold, on the replica that did not make the change: a log level set elsewhere applies to its very
next request, a DELETE elsewhere is a 404 at its very next request, a record changed behind the bus's back is
seen within the interval, and a session used for longer than the idle timeout on one replica still exists for
the other. And what this is for: a request on a session the replica holds costs no Redis command.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from conftest import Running, free_port, sse_messages, start_server, stop_server
from pg import PrivateRedis

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
IDLE = 3.0
INTERVAL = IDLE / 4  # RedisSessionStore: min(REVALIDATE_SECONDS, idle / 4)
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
ADD = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}
CHATTY = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "chatty", "arguments": {}}}
LEVELS = {"debug": ["debug", "warning"], "warning": ["warning"], "error": []}


class Replicas:
    def __init__(self, redis_url: str, servers: list[Running]) -> None:
        self.redis_url = redis_url
        self.servers = servers


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    server = PrivateRedis(free_port(), Path(tmp_path_factory.mktemp("redis")))
    server.start()
    env = {"REDIS_URL": server.url, "BOSUN_SESSION_IDLE_SECONDS": str(IDLE)}
    logs = Path(tmp_path_factory.mktemp("logs"))
    running = [start_server("tests/servers/everything.py", env=env, log=logs / f"replica{index}.log") for index in range(2)]
    try:
        with httpx.Client(timeout=5) as http:  # each replica's bus is subscribed once it is ready
            for replica in running:
                deadline = time.monotonic() + 10
                while http.get(replica.base + "/ready").status_code != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
        time.sleep(0.3)
        yield Replicas(server.url, running)
    finally:
        for replica in running:
            stop_server(replica)
        server.stop()
    problems = [line for index in range(2) for line in (logs / f"replica{index}.log").read_text().splitlines()
                if "Traceback" in line or "Exception in ASGI" in line or '"level":"error"' in line]
    assert not problems, problems[:3]


def _open(http: httpx.Client, replica: Running) -> dict[str, str]:
    response = http.post(replica.url, json=INIT, headers=HEADERS)
    assert response.status_code == 200, response.text
    return {**HEADERS, "mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}


def _added(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("result", {}).get("structuredContent") == {"result": 5}


def _levels(http: httpx.Client, replica: Running, headers: dict[str, str]) -> list[str]:
    response = http.post(replica.url, json=CHATTY, headers=headers)
    assert response.status_code == 200, response.text
    return [m["params"]["level"] for m in sse_messages(response.text) if m.get("method") == "notifications/message"]


def _hold(http: httpx.Client, replica: Running, headers: dict[str, str]) -> None:
    """Make `replica` read the session and serve it from its copy for a while."""
    for _ in range(5):
        assert _added(http.post(replica.url, json=ADD, headers=headers))


def _commands(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def test_a_log_level_set_on_one_replica_applies_at_once_on_another_that_holds_the_session(replicas: Replicas) -> None:
    first, second = replicas.servers
    with httpx.Client(timeout=10) as http:
        headers = _open(http, first)
        _hold(http, second, headers)
        for round_number in range(12):
            level = ("debug", "error", "warning")[round_number % 3]
            setting = {"jsonrpc": "2.0", "id": 10 + round_number, "method": "logging/setLevel", "params": {"level": level}}
            assert http.post(first.url, json=setting, headers=headers).json()["result"] == {}
            assert _levels(http, second, headers) == LEVELS[level], f"round {round_number}: {level} not applied on the other replica"


def test_a_delete_on_one_replica_is_a_404_at_once_on_another_that_holds_the_session(replicas: Replicas) -> None:
    first, second = replicas.servers
    with httpx.Client(timeout=10) as http:
        for round_number in range(12):
            here, there = (first, second) if round_number % 2 == 0 else (second, first)
            headers = _open(http, here)
            _hold(http, there, headers)
            assert http.delete(here.url, headers=headers).status_code == 200
            refused = http.post(there.url, json=ADD, headers=headers)
            assert refused.status_code == 404, f"round {round_number}: {refused.status_code} {refused.text}"


def _frozen_meanwhile(replica: Running, change: Callable[[], None], ask: Callable[[], httpx.Response]) -> httpx.Response:
    """`change` made while `replica` is frozen, then `ask` sent to it (its bytes wait in the socket), then the replica
    thawed: it finds the bus's message and the request waiting at once, as a busy or descheduled replica would."""
    answers: list[httpx.Response] = []
    replica.process.send_signal(signal.SIGSTOP)
    try:
        change()
        asking = threading.Thread(target=lambda: answers.append(ask()))
        asking.start()
        time.sleep(0.2)
    finally:
        replica.process.send_signal(signal.SIGCONT)
    asking.join(10)
    return answers[0]


def test_a_replica_that_finds_the_message_and_the_request_waiting_at_once_acts_on_the_message_first(
        replicas: Replicas) -> None:
    first, second = replicas.servers
    with httpx.Client(timeout=10) as http, httpx.Client(timeout=10) as kept:  # `kept`: a connection to `second` already open
        headers = _open(http, first)
        _hold(kept, second, headers)
        setting = {"jsonrpc": "2.0", "id": 5, "method": "logging/setLevel", "params": {"level": "error"}}
        chatty = _frozen_meanwhile(second, lambda: http.post(first.url, json=setting, headers=headers).raise_for_status(),
                                   lambda: kept.post(second.url, json=CHATTY, headers=headers))
        assert chatty.status_code == 200
        assert [m for m in sse_messages(chatty.text) if m.get("method") == "notifications/message"] == []
        _hold(kept, second, headers)
        refused = _frozen_meanwhile(second, lambda: http.delete(first.url, headers=headers).raise_for_status(),
                                    lambda: kept.post(second.url, json=ADD, headers=headers))
        assert refused.status_code == 404, refused.text


def test_a_request_on_a_session_the_replica_holds_costs_no_redis_command(replicas: Replicas) -> None:
    """HEAD read and renewed the record on every request (GETEX): about one command per request. A held copy costs
    one GETEX per revalidation interval (it renews the TTL too), whatever the request rate."""
    first, second = replicas.servers
    count = 1000
    with httpx.Client(timeout=10) as http, redis.Redis.from_url(replicas.redis_url) as client:
        headers = _open(http, first)
        _hold(http, second, headers)
        before = _commands(client)
        started = time.monotonic()
        for _ in range(count):
            assert _added(http.post(second.url, json=ADD, headers=headers))
        elapsed = time.monotonic() - started
        after = _commands(client)
    spent = {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name, 0)}
    spent["info"] = spent.get("info", 0) - 1  # this test's own INFO
    total = sum(spent.values())
    print(f"{count} requests in {elapsed:.2f}s on a held session: Redis commands {spent} ({total / count:.4f} per request)")
    assert spent.get("getex", 0) <= elapsed / INTERVAL + 2, spent  # at most one read per interval (the renewal)
    assert total / count < 0.02, spent


def test_a_session_in_use_on_one_replica_does_not_expire_in_redis(replicas: Replicas) -> None:
    """Used for 8 s (over twice the 3 s idle timeout) on one replica, served there mostly from its copy: the record is
    renewed meanwhile, so the other replica still finds it. Left alone, it expires in Redis and everywhere."""
    first, second = replicas.servers
    with httpx.Client(timeout=10) as http, redis.Redis.from_url(replicas.redis_url) as client:
        headers = _open(http, first)
        key = next(name for name in client.scan_iter(match="*session*") if name.decode().endswith(headers["mcp-session-id"]))
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert _added(http.post(first.url, json=ADD, headers=headers))
            assert client.ttl(key) > 0
            time.sleep(0.05)
        assert _added(http.post(second.url, json=ADD, headers=headers))
        time.sleep(IDLE + INTERVAL + 0.5)  # unused: gone from Redis, and neither copy is served any longer
        assert client.exists(key) == 0
        for replica in (first, second):
            assert http.post(replica.url, json=ADD, headers=headers).status_code == 404


def test_a_change_the_bus_never_carried_is_seen_within_the_revalidation_interval(replicas: Replicas) -> None:
    """The bound for a lost message: the record is changed in Redis behind the bus's back (as a PUBLISH that failed
    would leave it); the replica holding a copy serves the change within the interval of its last read."""
    first, second = replicas.servers
    with httpx.Client(timeout=10) as http, redis.Redis.from_url(replicas.redis_url) as client:
        headers = _open(http, first)
        _hold(http, second, headers)
        assert _levels(http, second, headers) == LEVELS["debug"]  # no level set: everything
        key = next(name for name in client.scan_iter(match="*session*") if name.decode().endswith(headers["mcp-session-id"]))
        record = orjson.loads(client.get(key))
        record["l"] = "error"
        client.set(key, orjson.dumps(record), keepttl=True)
        changed = time.monotonic()
        while True:
            asked = time.monotonic()  # a stale answer must come from a request that left before the bound
            if _levels(http, second, headers) == []:
                break
            assert asked - changed < INTERVAL, f"a stale copy served {asked - changed:.3f}s after the change"
            time.sleep(0.01)
        print(f"a change made behind the bus's back was served {asked - changed:.3f}s after it (bound {INTERVAL}s)")


def test_reads_ahead_due_together_go_to_redis_as_one_pipeline_and_each_brings_its_own_record(tmp_path: Path) -> None:
    """64 sessions opened together fall due for their read ahead together (the production profile's bench: one per
    connection). Read one by one they took 64 tasks and 64 pooled connections every half interval; batched, they
    take one connection, and each session still gets its own record (a level changed in Redis behind the bus's back)."""
    import asyncio

    from bosun.state.sessions.redis_store import RedisSessionStore

    server = PrivateRedis(free_port(), tmp_path)
    server.start()

    async def scenario() -> None:
        store = RedisSessionStore(server.url, revalidate_seconds=0.4)
        store.listening(True)  # as the change bus does once subscribed: copies may be served
        try:
            sessions = [await store.create("2025-11-25", {}, None, "alice", "alice") for _ in range(64)]
            with redis.Redis.from_url(server.url) as client:
                for index, session in enumerate(sessions):
                    record = orjson.loads(client.get(store._key(session.id)))
                    record["l"] = ("error", "debug")[index % 2]
                    client.set(store._key(session.id), orjson.dumps(record), keepttl=True)
                connections = int(client.info("stats")["total_connections_received"])
                await asyncio.sleep(0.25)  # past half the interval: each next use reads ahead
                assert [await store.get(session.id) for session in sessions] == sessions  # served from the copies
                await asyncio.sleep(0.2)
                opened = int(client.info("stats")["total_connections_received"]) - connections
        finally:
            await store.close()
        assert [session.log_level for session in sessions] == [("error", "debug")[index % 2] for index in range(64)]
        assert opened <= 1, f"{opened} connections opened for 64 reads ahead"
        print(f"64 reads ahead due together: {opened} connection opened, each session's own record applied")

    try:
        asyncio.run(asyncio.wait_for(scenario(), 15))
    finally:
        server.stop()
