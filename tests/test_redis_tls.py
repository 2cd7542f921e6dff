"""Redis that speaks TLS itself: one node, a Sentinel set and a Cluster, each listening only on its TLS port.

The servers are the machine's redis-server, built with TLS (tests/redis_topologies.py `Tls`): replication, the
sentinels' links and the cluster bus are TLS too, with certificates a CA of the test's own signs. Bosun's only settings
are REDIS_URL (`rediss://`, `rediss+sentinel://`, `rediss+cluster://`) and BOSUN_REDIS_CA_FILE. Two replicas share
what replicas share (`shared_state_works`), through each topology. A server found without TLS fails these tests,
saying so: a TLS test that skipped would pass a build that never spoke TLS.

tests/test_redis_topologies.py keeps the TLS terminator's test: any server behind a proxy, as managed services run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import redis
from redis_load import Load
from redis_topologies import Cluster, RedisNode, SentinelSet, Tls, make_ca
from test_redis_topologies import HEADERS, INIT, _modern, _problems, _ready, _session, _tool

from conftest import Running, free_port, meta, modern_headers, start_server, stop_server


def shared_state_works(replicas: list[Running], rate_limit: bool = True) -> None:
    """Through whatever REDIS_URL names, with two replicas: a 2025 session opened on one and used on the other; a
    stream cut on one and resumed on the other (the event store); the cache filled on one, read and invalidated from
    the other; a change made on one heard by a listener on the other (the change bus); and, with `rate_limit`, a
    per-tool limit (5 a minute per caller) that only a shared Redis can hold across replicas. The limit is spent for a
    minute afterwards: check it once per Redis."""
    first, second = replicas[:2]
    with httpx.Client(timeout=10) as http:
        headers = _session(http, first)
        added = http.post(second.url, headers=headers, json=_tool("add", {"a": 2, "b": 2}))
        assert added.status_code == 200 and "result" in added.json(), added.text
        cut = http.post(first.url, headers=headers, json=_tool("long_count", {"to": 2}, 8))
        priming = [line[4:] for line in cut.text.splitlines() if line.startswith("id: ")]
        assert priming, cut.text[:300]
        resumed = http.get(second.url, headers={**headers, "accept": "text/event-stream", "last-event-id": priming[0]})
        assert "counted to 2 (resumed)" in resumed.text, resumed.text[-300:]
        cached = _modern(http, first, "clock")
        assert "result" in cached and _modern(http, second, "clock") == cached  # filled by one, read by the other
        assert "result" in _modern(http, second, "tick")
        assert _modern(http, first, "clock") != cached  # invalidated by the other
        if rate_limit:
            granted = [http.post(replicas[index % 2].url, headers=headers, json=_tool("scarce", id=index)).status_code
                       for index in range(7)]
            assert granted == [200] * 5 + [429] * 2, granted
    assert asyncio.run(_heard(first, second, 3)) == 3, "the change bus did not carry every change"


async def _heard(listener: Running, toucher: Running, touches: int) -> int:
    """How many of `touches` changes made on `toucher` a subscriptions/listen stream on `listener` hears."""
    load = Load([listener, toucher])
    async with httpx.AsyncClient(timeout=10) as http:
        opened = asyncio.Event()
        listening = asyncio.create_task(load.listen(http, opened))
        await asyncio.wait_for(opened.wait(), 5)
        await asyncio.sleep(0.2)
        for _ in range(touches):
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "touch", "arguments": {"uri": "greeting://bus"}, "_meta": meta()}}
            assert (await http.post(toucher.url, json=body, headers=modern_headers("tools/call", "touch"))).status_code == 200
        deadline = time.monotonic() + 3
        while load.heard < touches and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
    return load.heard


def _replicas(env: dict[str, str], logs: list[Path]) -> list[Running]:
    running = [start_server("tests/servers/replicated.py", env=env, log=log) for log in logs]
    _ready(running)
    return running


def test_rediss_with_a_ca_file_on_a_native_tls_redis_is_shared_and_a_wrong_ca_is_refused(tmp_path: Path) -> None:
    """`rediss://` to a server listening only on TLS: sessions, streams, cache, change bus and rate limits shared by two
    replicas. Then a CA that did not sign the server's certificate: refused at first use, said clearly in Bosun's log
    (CERTIFICATE_VERIFY_FAILED), the server saw the handshake fail, and nothing reached it (its database 1 is empty).
    Bosun meanwhile serves as it does while Redis is down (printed with -s)."""
    tls = Tls.make(tmp_path / "tls")
    other_ca, _, _ = make_ca(tmp_path, "someone-else")
    node = RedisNode(free_port(), tmp_path / "redis", [], tls=tls)
    node.start()
    url = f"rediss://localhost:{node.port}/0"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    try:
        replicas = _replicas({"REDIS_URL": url, "BOSUN_REDIS_CA_FILE": str(tls.ca)}, logs)
        try:
            shared_state_works(replicas)
        finally:
            for replica in replicas:
                stop_server(replica)
        assert not _problems(logs), _problems(logs)[:3]
        with node.client() as client:
            assert any(client.scan_iter(match="bosun:replicated:session:*"))
        bad = start_server("tests/servers/replicated.py", env={"REDIS_URL": url.replace("/0", "/1"),
                                                                "BOSUN_REDIS_CA_FILE": str(other_ca)}, log=tmp_path / "bad.log")
        try:
            with httpx.Client(timeout=10) as http:
                answer = http.post(bad.url, json=INIT, headers=HEADERS)
                time.sleep(0.5)
        finally:
            stop_server(bad)
        said = (tmp_path / "bad.log").read_text()
        assert "CERTIFICATE_VERIFY_FAILED" in said, said[-2000:]
        print(f"\nwrong CA: HTTP {answer.status_code} session {answer.headers.get('mcp-session-id', '-')[:2]}...; logged: "
              + next(line for line in said.splitlines() if "CERTIFICATE_VERIFY_FAILED" in line)[:400])
        assert "Error accepting a client connection" in node.log.read_text()  # the server saw the handshake refused
        with redis.Redis(port=node.port, db=1, socket_timeout=2, **tls.client_options()) as client:
            assert client.dbsize() == 0
    finally:
        node.stop()


def test_rediss_sentinel_follows_a_failover_over_tls(tmp_path: Path) -> None:
    """A primary and a replica (replicating over TLS) and three sentinels that listen only on TLS and talk to each other
    and to the data nodes over TLS. Bosun asks the sentinels over TLS, listens to them over TLS (it hears the
    promotion: its log says it follows it), and reaches the primary over TLS, before and after SENTINEL FAILOVER: a
    session opened before it is used after it, and everything shared works on the new primary."""
    tls = Tls.make(tmp_path / "tls")
    sentinels = SentinelSet(tmp_path / "redis", tls=tls)
    sentinels.start()
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    try:
        replicas = _replicas({"REDIS_URL": sentinels.url, "BOSUN_REDIS_CA_FILE": str(tls.ca)}, logs)
        try:
            shared_state_works(replicas, rate_limit=False)
            with httpx.Client(timeout=10) as http:
                before = _session(http, replicas[0])
                new = sentinels.failover()
                time.sleep(0.5)
                after = http.post(replicas[1].url, headers=before, json=_tool("add", {"a": 1, "b": 1}))
                assert after.status_code == 200 and "result" in after.json(), after.text
            shared_state_works(replicas)
            with new.client() as client:  # what was written after the failover is on the new primary
                assert any(client.scan_iter(match="bosun:replicated:session:*"))
        finally:
            for replica in replicas:
                stop_server(replica)
        followed = "".join(log.read_text() for log in logs)
        assert "the sentinels are moving" in followed, followed[-2000:]
        assert not _problems(logs), _problems(logs)[:3]
    finally:
        sentinels.stop()


def test_rediss_cluster_on_a_native_tls_cluster_is_shared(tmp_path: Path) -> None:
    """Three primaries listening only on TLS, their cluster bus over TLS (tls-cluster yes): the client learns the nodes
    from CLUSTER SLOTS, which name their TLS ports, and everything two replicas share works across the slots."""
    tls = Tls.make(tmp_path / "tls")
    cluster = Cluster(tmp_path / "cluster", tls=tls)
    cluster.start()
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    try:
        replicas = _replicas({"REDIS_URL": cluster.url, "BOSUN_REDIS_CA_FILE": str(tls.ca)}, logs)
        try:
            shared_state_works(replicas)
            # Spread over the nodes, all over TLS. The keys so far are few, and one in nine runs they all fall in one
            # node's third of the slots: each more session opened is one more key on a random slot.
            with httpx.Client(timeout=10) as http:
                for _ in range(20):
                    keys = cluster.keys("bosun:replicated:*")
                    if len({cluster.keyslot(key) * 3 // 16384 for key in keys}) > 1:
                        break
                    assert http.post(replicas[0].url, json=INIT, headers=HEADERS).status_code == 200
            assert len({cluster.keyslot(key) * 3 // 16384 for key in keys}) > 1, keys
        finally:
            for replica in replicas:
                stop_server(replica)
        assert not _problems(logs), _problems(logs)[:3]
    finally:
        cluster.stop()
