"""Invented opaque tokens from one address: real users elsewhere still get in at once, and the calls stay bounded.

The authorization server answers introspection in 0.3 s (`SlowIntrospection` in front of the
real OIDC provider). One address (127.0.0.1) sends 900 made-up tokens over 600 connections, with
no credentials at all (`token_flood.py`, in a process of its own: 600 first requests within a
second, six times what 32 calls of 0.3 s can answer, each connection's next one on its answer);
meanwhile real users, each from its own loopback address (127.0.0.2, ...), send their first
request with a real token that was never checked before.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from slow_introspection import SlowIntrospection

from authserver import OidcProvider
from bosun.security.options import RateLimit
from conftest import MODERN, ROOT, free_port, modern_headers, start_server, stop_server

META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}}
BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"text": "hi"}, "_meta": META}}).encode()
CONNECTIONS, TOKENS, SPREAD, USERS = 600, 900, 1.0, 8


def _first_request(url: str, address: str, token: str, results: dict[str, tuple[float, float, int]], t0: float) -> None:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=5) as http:
        started = time.monotonic()
        try:
            status = http.post(url, content=BODY, headers={**modern_headers("tools/call", "echo"),
                                                           "authorization": f"Bearer {token}"}).status_code
        except httpx.TimeoutException:
            status = 0
        results[address] = (started - t0, time.monotonic() - started, status)


def test_invented_tokens_from_one_address_do_not_delay_real_users_and_calls_stay_bounded(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(tmp_path, [resource])
    provider.start()
    slow = SlowIntrospection(f"{provider.issuer}/token/introspection", 0.3).start()
    env = {"BOSUN_AUTH_INTROSPECTION_URL": slow.url, "BOSUN_AUTH_CLIENT_ID": "bosun-rs", "BOSUN_AUTH_CLIENT_SECRET": "rs-secret",
           "BOSUN_AUTH_SERVERS": provider.issuer, "BOSUN_RESOURCE_URL": resource, "BOSUN_LOG_FORMAT": "json"}
    server = start_server("tests/servers/secure.py", port=port, env=env, log=tmp_path / "server.log")
    try:
        tokens = [provider.token("opaque") for _ in range(USERS)]  # real, and never checked by the server yet
        assert slow.calls == 0
        flood = subprocess.Popen([sys.executable, str(ROOT / "tests" / "token_flood.py"), str(port), str(CONNECTIONS), str(TOKENS),
                                  str(SPREAD)],
                                 stdout=subprocess.PIPE, text=True)
        assert flood.stdout is not None and flood.stdout.readline().strip() == "fired"
        t0 = time.monotonic()
        results: dict[str, tuple[float, float, int]] = {}
        users = []
        for index, token in enumerate(tokens):  # one real user every 0.1 s while the flood runs
            address = f"127.0.0.{index + 2}"
            users.append(threading.Thread(target=_first_request, args=(server.url, address, token, results, t0)))
            users[-1].start()
            time.sleep(0.1)
        for user in users:
            user.join(10)
        statuses = json.loads(flood.communicate(timeout=30)[0])
        latencies = sorted(elapsed for _, elapsed, _ in results.values())
        print(f"\nreal users' first requests during the flood: p50 {statistics.median(latencies):.3f} s, "
              f"max {latencies[-1]:.3f} s; flood {statuses}; introspection calls {slow.calls}")
        assert latencies[-1] < 1.0, f"a real user's first request took {latencies[-1]:.2f} s (5 s: timed out)"
        assert [status for _, _, status in results.values()] == [200] * USERS
        assert all(start < statuses["seconds"] for start, _, _ in results.values()), "the flood was over too soon"
        assert statuses.get("401", 0) + statuses.get("429", 0) == TOKENS and not statuses.get("broken")
        attacker_calls = slow.calls - USERS
        assert attacker_calls <= 48, f"{attacker_calls} introspection calls for invented tokens"

        # The flood used up its address's budget of unknown tokens (30 a minute): its next one gets 429 without
        # a call, while a real user elsewhere is still served, and repeating an invented token costs nothing.
        with httpx.Client(timeout=10) as http:
            def invented(client: httpx.Client, token: str) -> httpx.Response:
                return client.post(server.url, content=BODY, headers={**modern_headers("tools/call", "echo"),
                                                                       "authorization": f"Bearer {token}"})
            calls = slow.calls
            refused = invented(http, "one-more-invented-token")
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert refused.json()["error"]["message"].startswith("Too many requests")
            assert slow.calls == calls  # refused without asking the authorization server
            with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.40"), timeout=5) as other:
                assert invented(other, provider.token("opaque")).status_code == 200
                calls = slow.calls
                assert invented(other, "invented-once").status_code == 401
                assert invented(other, "invented-once").status_code == 401
                assert slow.calls == calls + 1  # the inactive answer is cached (by digest): a repeat costs nothing
    finally:
        stop_server(server)
        slow.stop()
        provider.stop()


def test_fair_slots_take_turns_by_address_and_bound_what_waits() -> None:
    from bosun.security.admission import FairSlots
    from bosun.security.verifier import VerifierBusy

    async def scenario() -> None:
        slots = FairSlots(total=2, per_address=2, queue_per_address=3, queue_total=4)
        order: list[str] = []

        async def call(address: str) -> None:
            await slots.acquire(address)
            order.append(address)
            await asyncio.sleep(0.01)
            slots.release(address)

        tasks = [asyncio.create_task(call("flood")) for _ in range(5)]  # 2 run, 3 wait (its queue is full)
        await asyncio.sleep(0)
        with pytest.raises(VerifierBusy):
            await slots.acquire("flood")  # a fourth waiter from the same address: refused at once
        tasks.append(asyncio.create_task(call("user")))
        await asyncio.gather(*tasks)
        assert order.index("user") <= 3  # served right after the first slot came free, not after the flood's queue
        waiter = asyncio.create_task(slots.acquire("gone"))
        await slots.acquire("a")
        await slots.acquire("b")
        waiter2 = asyncio.create_task(slots.acquire("gone"))
        await asyncio.sleep(0)
        waiter2.cancel()  # a caller that gives up leaves no trace
        await asyncio.sleep(0)
        slots.release("a")
        await waiter
        slots.release("b")
        slots.release("gone")
        assert slots.free == 2 and not slots._waiting and not slots._running and not slots._turns and slots._queued == 0

    asyncio.run(scenario())


def test_addresses_are_grouped_and_bounded() -> None:
    from bosun.security.admission import FailureBudget, address_of
    from bosun.security.verifier import VerifierBusy

    assert address_of("2001:db8:1:2:3:4:5:6") == address_of("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_of("::ffff:192.0.2.7") == "192.0.2.7" and address_of("192.0.2.7") == "192.0.2.7"
    assert len(address_of("x" * 10_000)) <= 64 and address_of(None) == "-"
    budget = FailureBudget(RateLimit(2, 60.0), max_addresses=100)
    for index in range(1000):
        budget.charge(f"10.0.{index // 256}.{index % 256}")
    assert len(budget._due) <= 100
    budget.charge("192.0.2.1")
    budget.charge("192.0.2.1")
    with pytest.raises(VerifierBusy):
        budget.check("192.0.2.1")
    budget.check("192.0.2.2")
