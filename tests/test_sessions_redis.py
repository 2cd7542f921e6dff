"""2025 sessions shared through Redis: any replica serves any session, with no sticky routing."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import timed

from conftest import Running, free_port, modern_call, sse_messages, start_server, stop_server
from pg import PrivateRedis

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _post(http: httpx.Client, server: Running, session: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(server.url, json=body, headers={**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"})


def test_a_session_opened_on_one_replica_is_served_by_another(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_STATE_KEYS": "shared"}
    first, second = (start_server("tests/servers/everything.py", env=env) for _ in range(2))
    try:
        with httpx.Client(timeout=10) as http:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            session = http.post(first.url, json=init, headers=HEADERS).headers["mcp-session-id"]
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 2}}}
            assert _post(http, second, session, call).json()["result"]["structuredContent"] == {"result": 4}
            # State negotiated on one replica holds on the other.
            assert _post(http, first, session, {"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
                                                "params": {"level": "warning"}}).json()["result"] == {}
            chatty = _post(http, second, session, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                                   "params": {"name": "chatty", "arguments": {}}})
            levels = [m["params"]["level"] for m in sse_messages(chatty.text) if m.get("method") == "notifications/message"]
            assert levels == ["warning"]
            # Ended on one, gone on both.
            assert http.delete(second.url, headers={**HEADERS, "mcp-session-id": session}).status_code == 200
            assert _post(http, first, session, call).status_code == 404
            # Redis down: a clear 503, not a 500, and the stateless era keeps working.
            other = http.post(first.url, json=init, headers=HEADERS).headers["mcp-session-id"]
            redis.stop()
            refused = _post(http, second, other, call)
            assert refused.status_code == 503 and "Session store unavailable" in refused.json()["error"]["message"]
            assert refused.json()["error"]["code"] == -32603 and refused.headers["retry-after"] == "1"  # retryable, not -32600
            modern = modern_call(http, second.url, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}})
            assert modern.json()["result"]["structuredContent"] == {"result": 2}
    finally:
        stop_server(first)
        stop_server(second)
        redis.stop()


def test_a_shared_session_stays_bound_to_its_principal_on_every_replica(tmp_path: Path) -> None:
    from bosun.security.apikeys import hash_key

    alice, bob = "bsk_alice-session-key-000000000000000000000000", "bsk_bob-session-key-0000000000000000000000000000"
    keys = tmp_path / "keys"
    keys.write_text(f"alice {hash_key(alice)}\nbob {hash_key(bob)}\n")
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_AUTH_API_KEYS_FILE": str(keys)}
    first, second = (start_server("tests/servers/everything.py", env=env) for _ in range(2))
    try:
        with httpx.Client(timeout=10) as http:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            session = http.post(first.url, json=init, headers={**HEADERS, "x-api-key": alice}).headers["mcp-session-id"]
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
            assert http.post(second.url, json=ping, headers={**headers, "x-api-key": alice}).status_code == 200
            assert http.post(second.url, json=ping, headers={**headers, "x-api-key": bob}).status_code == 404
            assert http.post(first.url, json=ping, headers={**headers, "x-api-key": bob}).status_code == 404
            assert http.post(second.url, json=ping, headers=headers).status_code == 401
    finally:
        stop_server(first)
        stop_server(second)
        redis.stop()


# Redis down: sessions this replica holds keep working; what happened is written back when Redis returns.
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
ADD = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}


def _open(http: httpx.Client, server: Running) -> str:
    response = http.post(server.url, json=INIT, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


def _added(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("result", {}).get("structuredContent") == {"result": 5}


def test_a_session_opened_before_redis_fails_keeps_working_through_the_outage(tmp_path: Path) -> None:
    """The official client, legacy mode: initialize with Redis up, then several calls with it gone, no 5xx."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    server = start_server("tests/servers/everything.py", env={"REDIS_URL": redis.url})
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    async def scenario() -> list[Any]:
        http = httpx2.AsyncClient(timeout=10, event_hooks={"response": [record]})
        async with http, Client(streamable_http_client(server.url, http_client=http), mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            first = await client.call_tool("add", {"a": 1, "b": 1})
            redis.stop()
            results = [first]
            for n in range(5):
                results.append(await client.call_tool("add", {"a": n, "b": 10}))
            return [r.structured_content for r in results]

    try:
        results = asyncio.run(asyncio.wait_for(scenario(), 30))
        assert results == [{"result": 2}, *({"result": n + 10} for n in range(5))]
        assert statuses and all(status < 500 for status in statuses), statuses
    finally:
        stop_server(server)
        redis.stop()


def test_a_session_opened_during_the_outage_is_written_back_for_other_replicas(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    env = {"REDIS_URL": redis.url}
    first, second = (start_server("tests/servers/everything.py", env=env) for _ in range(2))
    try:
        with httpx.Client(timeout=10) as http:
            assert _added(_post(http, second, _open(http, first), ADD))  # both replicas share sessions
            redis.stop()
            session = _open(http, first)
            assert _added(_post(http, first, session, ADD))
            assert _post(http, first, session, {"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
                                                "params": {"level": "debug"}}).json()["result"] == {}
            elsewhere = _post(http, second, session, ADD)  # the other replica has never seen it: retry, not 404
            assert elsewhere.status_code == 503 and elsewhere.headers["retry-after"] == "1"
            redis.start()  # same port, empty: nothing of the old data survives
            took = timed(lambda: _added(_post(http, second, session, ADD)))
            print(f"session opened in the outage usable on another replica {took:.2f}s after Redis returned")
            # What changed during the outage came back too: the log level set on the first replica.
            chatty = _post(http, second, session, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                                   "params": {"name": "chatty", "arguments": {}}})
            levels = [m["params"]["level"] for m in sse_messages(chatty.text) if m.get("method") == "notifications/message"]
            assert levels == ["debug", "warning"]
            assert http.delete(second.url, headers={**HEADERS, "mcp-session-id": session}).status_code == 200
            assert _post(http, first, session, ADD).status_code == 404
    finally:
        stop_server(first)
        stop_server(second)
        redis.stop()


def test_an_unknown_session_while_redis_is_down_is_a_retryable_503(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    server = start_server("tests/servers/everything.py", env={"REDIS_URL": redis.url})
    try:
        with httpx.Client(timeout=10) as http:
            known = _open(http, server)
            redis.stop()
            for session in ("no-such-session", known + "x"):
                response = _post(http, server, session, ADD)
                assert response.status_code == 503 and response.headers["retry-after"] == "1"
                error = response.json()["error"]
                assert error["code"] == -32603 and "Session store unavailable" in error["message"]
            assert _added(_post(http, server, known, ADD))
            # Deleting a session this replica holds works during the outage, and sticks once Redis is back.
            assert http.delete(server.url, headers={**HEADERS, "mcp-session-id": known}).status_code == 200
            redis.start()
            timed(lambda: _post(http, server, known, ADD).status_code == 404)
    finally:
        stop_server(server)
        redis.stop()


def test_the_outage_warning_is_logged_once_per_30_seconds(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    log = tmp_path / "server.log"
    server = start_server("tests/servers/everything.py", env={"REDIS_URL": redis.url, "BOSUN_LOG_FORMAT": "json"}, log=log)
    try:
        with httpx.Client(timeout=10) as http:
            known = _open(http, server)
            redis.stop()
            statuses: list[int] = []
            deadline = time.monotonic() + 2.5  # long enough for the background retry to fail twice as well
            while time.monotonic() < deadline:
                statuses.append(_post(http, server, "unknown", ADD).status_code)
                statuses.append(_post(http, server, known, ADD).status_code)
                statuses.append(http.post(server.url, json=INIT, headers=HEADERS).status_code)
            # A session this replica does not hold waits up to HOLD_SECONDS for Redis before its 503: each round takes
            # that long, and the outage still meets many failures (each would log, without the throttle).
            assert len(statuses) > 10 and set(statuses) == {200, 503}
            redis.start()
            timed(lambda: _post(http, server, "unknown", ADD).status_code == 404)
    finally:
        stop_server(server)
        redis.stop()
    text = log.read_text()
    assert text.count("session store unavailable") == 1, text
    assert text.count("session store available again") == 1, text


def test_a_hung_redis_costs_one_timeout_not_one_per_request(tmp_path: Path) -> None:
    """A frozen Redis (accepts, never answers) is skipped after the first timeout; it is used again when it thaws."""
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    server = start_server("tests/servers/everything.py", env={"REDIS_URL": redis.url})
    assert redis.process is not None
    try:
        with httpx.Client(timeout=10) as http:
            session = _open(http, server)
            redis.process.send_signal(signal.SIGSTOP)
            start = time.monotonic()
            assert all(_added(_post(http, server, session, ADD)) for _ in range(20))
            hung = time.monotonic() - start
            assert hung < 1.5, hung  # one socket timeout (0.5 s) at most, then memory
            redis.process.send_signal(signal.SIGCONT)
            thawed = timed(lambda: _post(http, server, "unknown", ADD).status_code == 404)  # asking Redis again
            print(f"20 calls with Redis hung: {hung:.2f}s; Redis consulted again {thawed:.2f}s after it thawed")
    finally:
        if redis.process is not None:
            redis.process.send_signal(signal.SIGCONT)
        stop_server(server)
        redis.stop()


def test_the_replica_copy_is_bounded_and_idles_out_during_an_outage() -> None:
    """Nothing listens on the port, so Redis is down from the start: the copy is all there is."""
    from bosun.protocol.errors import McpError
    from bosun.state.sessions.redis_store import RedisSessionStore

    async def scenario() -> None:
        store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0", idle_seconds=0.3, max_sessions=3,
                                  max_per_client=2, retry_seconds=60)
        busy = asyncio.get_running_loop().create_task(asyncio.sleep(60))  # a request in flight: never evicted
        try:
            a1, a2 = [await store.create("2025-11-25", {}, None, "alice", "alice") for _ in range(2)]
            a2.in_flight[1] = busy
            a3 = await store.create("2025-11-25", {}, None, "alice", "alice")  # alice's cap: her idle a1 goes
            assert await store.get(a2.id) is a2 and await store.get(a3.id) is a3
            for missing in (a1.id, "never-seen"):
                with pytest.raises(McpError) as refused:
                    await store.get(missing)
                assert refused.value.http_status == 503
            b1 = await store.create("2025-11-25", {}, None, "bob", "bob")  # three in all: the global cap
            b2 = await store.create("2025-11-25", {}, None, "bob", "bob")  # evicts the oldest idle one (a3)
            with pytest.raises(McpError):
                await store.get(a3.id)
            b1.in_flight[1] = b2.in_flight[1] = busy
            with pytest.raises(McpError) as refused:
                await store.create("2025-11-25", {}, None, "carol", "carol")  # nothing idle to make room
            assert refused.value.http_status == 503 and "Too many open sessions" in refused.value.message
            for session in (a2, b1, b2):
                session.in_flight.clear()
            await asyncio.sleep(0.4)
            assert await store.expire() == 3  # idle past the timeout: gone from the copy
        finally:
            busy.cancel()
            await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_resume_while_redis_is_down_is_a_retryable_503_not_a_404(tmp_path: Path) -> None:
    """A 404 on `Last-Event-ID` tells the client its events are gone and to send the request again, running the tool
    call twice. While Redis cannot be asked the events may well be there: the resume gets 503 with Retry-After."""
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    log = tmp_path / "server.log"
    server = start_server("tests/servers/replicated.py", env={"REDIS_URL": redis.url}, log=log)
    try:
        with httpx.Client(timeout=10) as http:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            session = http.post(server.url, json=init, headers=HEADERS).headers["mcp-session-id"]
            headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "long_count", "arguments": {"to": 2}}}
            cut = http.post(server.url, headers=headers, json=call)
            priming = [line[4:] for line in cut.text.splitlines() if line.startswith("id: ")][0]
            resume = {**headers, "accept": "text/event-stream", "last-event-id": priming}
            assert "counted to 2 (resumed)" in http.get(server.url, headers=resume).text
            redis.stop()
            refused = http.get(server.url, headers=resume)  # the session is held here; the event store is not reachable
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
            assert refused.json()["error"] == {"code": -32603, "message": "Event store unavailable; retry shortly"}
    finally:
        stop_server(server)
        redis.stop()
    assert "Traceback" not in log.read_text()


def test_a_resume_following_a_stream_when_redis_goes_ends_it_cleanly(tmp_path: Path) -> None:
    """The transport's resume, in process, on a real Redis: it replays, follows the unfinished stream, and when Redis
    goes meanwhile it ends the response (the client resumes from its last event), rather than fail the request
    (an "Exception in ASGI application" in a failover test's log)."""
    from bosun.state.events.redis_store import RedisEventStore
    from bosun.transport.http.resumable import resume

    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        store = RedisEventStore(redis.url, "resume")
        key = await store.open("session", 1)
        await store.append(key, b'{"jsonrpc": "2.0", "method": "notifications/progress"}')
        left = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            await left.wait()
            return {"type": "http.disconnect"}

        following = asyncio.create_task(resume(send, receive, store, "session", f"{key}-0", (), keepalive=0.2))
        await asyncio.sleep(0.5)  # replayed, and following
        redis.stop()
        try:
            await asyncio.wait_for(following, 5)
        finally:
            left.set()
            await store.close()

    try:
        asyncio.run(scenario())
    finally:
        redis.stop()
    assert sent[0]["status"] == 200 and b"notifications/progress" in sent[1]["body"]
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
