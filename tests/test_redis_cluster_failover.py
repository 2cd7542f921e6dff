"""A Redis Cluster primary failed over under load: planned (CLUSTER FAILOVER on its replica) and killed (SIGKILL).

Six nodes (three primaries, a replica each, cluster-node-timeout 1000 ms: tests/redis_topologies.py `Cluster`), two
Bosun replicas whose only Redis setting is `REDIS_URL=redis+cluster://` with the three primaries as seeds, and the
load of the Sentinel failover test (tests/redis_load.py): 2025 sessions used on both replicas, cached calls under a
rate limit, streams resumed on the other replica from the event store, changes carried by the change bus. The primary
failed over is the one both change buses subscribe to, so the bus must find another node. Afterwards everything works
on the new primary. Run with -s for the numbers.

What may fail: the calls in flight at the failover (from the kill, or the request, to the replica's promotion):
while a third of the slots has no primary, a session this replica does not hold cannot be read, and waits up to the
session store's `HOLD_SECONDS` before a retryable 503. A call that begins after the switch must succeed.
Anything else, or later, fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest
from redis_load import Load, summary
from redis_topologies import Cluster
from test_redis_tls import shared_state_works
from test_redis_topologies import HEADERS, INIT, _problems, _ready

from conftest import Running, meta, modern_headers, start_server, stop_server


def _bus_primary(cluster: Cluster) -> int:
    """The index of the primary the change buses subscribed to (redis-py picks the node serving the channel's slot)."""
    subscribed = []
    for node in cluster.nodes[:3]:
        with node.client() as client:
            subscribed.append(int(client.execute_command("PUBSUB", "NUMSUB", "bosun:replicated:changes")[1]))
    assert sum(subscribed) == 2 and max(subscribed) == 2, f"the change buses' subscriptions per primary: {subscribed}"
    return subscribed.index(2)


@pytest.mark.parametrize("how", ["CLUSTER FAILOVER", "primary killed"])
def test_a_cluster_failover_under_load_fails_only_the_calls_in_flight(how: str, tmp_path: Path) -> None:
    """16 clients on two replicas while the primary holding the change buses' subscriptions is replaced by its replica:
    at its request (the primary hands over once the replica has caught up), or because it was killed (the other
    primaries call it down after the node timeout, then its replica is elected; meanwhile a third of the slots has no
    primary and the replicas serve as they do while Redis is down). Failed calls are printed with their times."""
    cluster = Cluster(tmp_path / "redis", replicas=True, node_timeout=1000)
    cluster.start()
    env = {"REDIS_URL": cluster.url, "BOSUN_RATE_LIMIT": "1000000/minute"}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    replicas: list[Running] = []
    try:
        replicas = [start_server("tests/servers/replicated.py", env=env, log=log) for log in logs]
        _ready(replicas)
        victim = _bus_primary(cluster)
        load = Load(replicas)

        async def run() -> tuple[float, float]:
            limits_ = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(timeout=10, limits=limits_) as http:
                opened = asyncio.Event()
                listener = asyncio.create_task(load.listen(http, opened))
                await asyncio.wait_for(opened.wait(), 5)
                workers = [asyncio.create_task(load.sessions(http, index)) for index in range(10)]
                workers += [asyncio.create_task(load.modern(http, index)) for index in range(3)]
                workers += [asyncio.create_task(load.resumed(http)), asyncio.create_task(load.touch(http))]
                await asyncio.sleep(2.0)
                began = time.monotonic()
                await asyncio.to_thread(cluster.failover, victim, how == "primary killed")
                switched = time.monotonic()
                await asyncio.sleep(3.0)
                load.stop = True
                await asyncio.gather(*workers)
                load.touches_heard = heard = load.heard  # the change bus, afterwards: five changes on one replica, all heard
                for _ in range(5):
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                            "params": {"name": "touch", "arguments": {"uri": "greeting://bus"}, "_meta": meta()}}
                    assert (await http.post(replicas[1].url, json=body,
                                            headers=modern_headers("tools/call", "touch"))).status_code == 200
                deadline = time.monotonic() + 2
                while load.heard - heard < 5 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
                assert load.heard - heard == 5, f"{load.heard - heard} of 5 changes heard after the failover"
                return began, switched

        began, switched = asyncio.run(run())
        failed = [(start - began, end - began, kind, outcome) for start, end, kind, outcome in load.calls if outcome != "ok"]
        took = switched - began
        in_flight = [call for call in failed if call[0] <= took + 0.05 and call[1] >= -0.05]
        after = [call for call in failed if call not in in_flight]
        during = [call for call in load.calls if call[0] <= switched + 0.05 and call[1] >= began - 0.05]
        print(f"\n{how} (primary {victim}): failover took {took:.2f}s; {len(load.calls)} calls, {len(during)} in flight "
              f"during it: {summary(load.calls)}; {len(in_flight)} failed in flight, {len(after)} after the switch"
              + (f" (the last ended {max(call[1] for call in after) - took:+.2f}s after it)" if after else "")
              + f"; bus: {load.touches_heard} of {load.touches} changes heard")
        for call in [*in_flight[:6], *after[:6]]:
            print(f"  failed: started {call[0]:+.2f}s ended {call[1]:+.2f}s {call[2]}: {call[3][:150]}")
        assert len(load.calls) > 50 and len(during) >= 10, "too little load to say anything (a machine too busy?)"
        lost = [call for call in failed if call[3].startswith("HTTP 404")]  # in flight or not: a session is never lost
        assert not lost, f"{len(lost)} calls answered 404: sessions lost in the failover (first at {lost[0][0]:+.2f}s)"
        # Nothing may fail that began after the switch: a session call that meets the store still looking for the new
        # primary waits for it (HOLD_SECONDS) rather than answering 503.
        assert not after, f"{len(after)} calls failed that were not in flight at the failover: {after[:3]}"
        shared_state_works(replicas)  # afterwards, on the new primary: sessions, streams, cache, bus, a rate limit
        assert cluster.serving(cluster.nodes[(victim + 1) % 3], cluster.RANGES[victim][0]) == cluster.nodes[victim + 3].port
    finally:
        for replica in replicas:
            stop_server(replica)
        cluster.stop()
    assert not _problems(logs), _problems(logs)[:3]


def test_a_burst_of_first_requests_on_a_fresh_replica_all_succeed(tmp_path: Path) -> None:
    """Two dozen `initialize` requests at once on a replica whose cluster client has not read the slot map yet: every
    one is answered 200 with a session, and nothing is logged as an error. (redis-py routed the first commands before
    reading the map, and the MOVED replies and reconnections that followed broke connections other commands were
    using: 1 to 7 of 24 answered 500 on each fresh replica.)"""
    cluster = Cluster(tmp_path / "redis")
    cluster.start()
    logs = [tmp_path / f"{index}.log" for index in range(3)]
    try:
        for log in logs:  # a fresh replica each time: its clients are cold
            replica = start_server("tests/servers/replicated.py", env={"REDIS_URL": cluster.url}, log=log)
            try:
                _ready([replica])

                async def burst(replica: Running = replica) -> list[int]:
                    async with httpx.AsyncClient(timeout=10) as http:
                        answers = await asyncio.gather(*(http.post(replica.url, json=INIT, headers=HEADERS)
                                                         for _ in range(24)))
                    return [answer.status_code if "mcp-session-id" in answer.headers else -1 for answer in answers]

                codes = asyncio.run(burst())
                assert codes == [200] * 24, codes
            finally:
                stop_server(replica)
    finally:
        cluster.stop()
    assert not _problems(logs), _problems(logs)[:3]
