"""Rate limits leased from Redis across three replicas: within the stated bound, exact when small, open when Redis is down.

Each replica spends tokens it leased from the shared bucket in Redis, so a busy bucket costs no round trip
per request; `bosun.security.ratelimit_lease` states the bound: at most R x count/64 requests over the exact
limit in any window, R replicas, and nothing over for limits under 64 per period.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import Path

import httpx
import redis
from test_rate_limits import call, keys_file

from bosun.security.options import RateLimit
from bosun.security.ratelimit_redis import RedisRateLimiter
from conftest import Running, free_port, start_server, stop_server
from pg import PrivateRedis

REPLICAS = 3
LEASE_SHARE = 64  # bosun.security.ratelimit_lease.LEASE_SHARE, repeated: the bound is what users are promised


def evalsha_calls(url: str) -> int:
    """How many scripts Redis has run: one per request for a limiter that asks Redis every time."""
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return sum(int(entry["calls"]) for name, entry in stats.items() if name in ("cmdstat_evalsha", "cmdstat_eval"))


def round_robin(http: httpx.Client, replicas: list[Running], count: int, key: str = "", tool: str = "echo") -> list[int]:
    return [call(http, replica, key, tool).status_code for replica, _ in zip(itertools.cycle(replicas), range(count), strict=False)]


def fail_opens(http: httpx.Client, replicas: list[Running]) -> int:
    total = 0
    for replica in replicas:
        text = http.get(replica.url.replace("/mcp", "/metrics")).text
        found = re.search(r'^bosun_security_events_total\{event="ratelimit_fail_open"\} ([0-9.]+)$', text, re.MULTILINE)
        total += int(float(found.group(1))) if found else 0
    return total


def test_a_busy_bucket_over_three_replicas_stays_within_the_stated_bound_without_a_round_trip_per_request(
        tmp_path: Path) -> None:
    store = PrivateRedis(free_port(), tmp_path)
    store.start()
    path, alice, bob = keys_file(tmp_path)
    env = {"REDIS_URL": store.url, "BOSUN_AUTH_API_KEYS_FILE": str(path), "BOSUN_RATE_LIMIT": "600/minute"}
    replicas = [start_server("tests/servers/secure.py", env=env) for _ in range(REPLICAS)]
    try:
        with httpx.Client(timeout=10) as http:
            # A small limit stays exact on top of a busy one: `expensive` allows 3 a minute per caller.
            assert round_robin(http, replicas, 8, bob, "expensive") == [200] * 3 + [429] * 5
            scripts = evalsha_calls(store.url)
            started = time.monotonic()
            codes = round_robin(http, replicas, 1200, alice)
            elapsed = time.monotonic() - started
            scripts = evalsha_calls(store.url) - scripts
        admitted = codes.count(200)
        assert set(codes) <= {200, 429}
        refill = 600 / 60 * elapsed  # the exact limiter's own allowance: a burst of 600, then 10 a second
        bound = REPLICAS * (600 // LEASE_SHARE)
        assert admitted <= 600 + refill + bound, (admitted, elapsed)
        assert admitted >= 600 - bound, (admitted, elapsed)  # what other replicas hold is unavailable here, no more
        # Leased, not asked for each request (HEAD ran one script per request: 1200).
        assert scripts < 1200 / 3, scripts
        print(f"\n1200 requests round robin over {REPLICAS} replicas in {elapsed:.2f}s: {admitted} admitted against an exact "
              f"{600 + refill:.0f} (bound {600 - bound}-{600 + refill + bound:.0f}), {scripts} lease scripts")
    finally:
        for replica in replicas:
            stop_server(replica)
        store.stop()


def test_a_small_limit_is_exact_over_three_replicas_fails_open_without_redis_and_recovers(tmp_path: Path) -> None:
    store = PrivateRedis(free_port(), tmp_path)
    store.start()
    env = {"REDIS_URL": store.url, "BOSUN_RATE_LIMIT": "5/minute"}  # open: the caller is its address
    replicas = [start_server("tests/servers/secure.py", env=env) for _ in range(REPLICAS)]
    try:
        with httpx.Client(timeout=10) as http:
            assert round_robin(http, replicas, 15) == [200] * 5 + [429] * 10
            store.stop()
            assert round_robin(http, replicas, 6) == [200] * 6
            assert fail_opens(http, replicas) == 6  # each let through, counted
            store.start()  # a new Redis on the same port: an empty bucket
            time.sleep(1.2)  # a failed Redis is left alone for a second
            assert round_robin(http, replicas, 9) == [200] * 5 + [429] * 4
            assert fail_opens(http, replicas) == 6
    finally:
        for replica in replicas:
            stop_server(replica)
        store.stop()


def test_concurrent_requests_on_three_limiters_never_spend_a_token_twice_and_held_tokens_go_back(tmp_path: Path) -> None:
    """The limiter itself, three instances (replicas) on one real Redis, requests in concurrent waves."""
    store = PrivateRedis(free_port(), tmp_path)
    store.start()
    daily = RateLimit(640, 86400.0)  # cap 10 per replica; a day: no refill to speak of

    async def scenario() -> None:
        replicas = [RedisRateLimiter(store.url, "bosun:test") for _ in range(REPLICAS)]
        try:
            busy = [("p:busy", daily, 1)]
            small = [("p:few", RateLimit(5, 3600.0), 1)]
            admitted = admitted_small = 0
            for _ in range(6):  # 1,800 requests for 640 tokens
                waits = await asyncio.gather(*(replicas[n % REPLICAS].acquire(busy) for n in range(300)))
                admitted += waits.count(0.0)
                assert all(wait == 0.0 or wait >= 1 for wait in waits)  # refused: told to wait for real
                small_waits = await asyncio.gather(*(replicas[n % REPLICAS].acquire(small) for n in range(30)))
                admitted_small += small_waits.count(0.0)
            assert admitted == 640  # from a full bucket nothing over, and with demand left everywhere nothing under
            assert admitted_small == 5
            # A second bucket, used briefly: the replicas end up holding leased tokens they no longer need.
            other = [("p:brief", daily, 1)]
            brief = 0
            for replica in replicas:
                brief += (await asyncio.gather(*(replica.acquire(other) for _ in range(60)))).count(0.0)
            await asyncio.sleep(0.2)  # the background leases land
            held = sum(replica._leases["p:brief"].tokens for replica in replicas)
            assert brief == 180 and 0 < held <= REPLICAS * (640 // LEASE_SHARE), held
        finally:
            for replica in replicas:
                await replica.close()  # gives back what it holds
        late = RedisRateLimiter(store.url, "bosun:test")
        try:
            left = [await late.acquire(other) for _ in range(640 - brief + 1)]
            assert left.count(0.0) == 640 - brief, left.count(0.0)  # what was held is back, nothing lost, nothing twice
        finally:
            await late.close()

    try:
        asyncio.run(scenario())
    finally:
        store.stop()
