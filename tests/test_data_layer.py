"""The data layer against the real PostgreSQL and Redis on this machine."""

from __future__ import annotations

import concurrent.futures
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import BOSUN, ROOT, free_port, modern_call, start_server, stop_server
from pg import PG_DSN, PrivatePostgres, PrivateRedis, fresh_database, psql

DATA_ENV = {"DATABASE_URL": f"{PG_DSN}/test", "BOSUN_READINESS_INTERVAL": "0.2"}


def call(http: httpx.Client, url: str, tool: str, **arguments: object) -> httpx.Response:
    return modern_call(http, url, "tools/call", {"name": tool, "arguments": arguments})


def _ready(http: httpx.Client, base: str, want: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(base + "/ready").status_code == want:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def test_more_concurrent_calls_than_connections_queue_and_succeed() -> None:
    running = start_server("tests/servers/data_server.py",
                           env={**DATA_ENV, "BOSUN_DB_POOL_SIZE": "2", "BOSUN_DB_MAX_OVERFLOW": "0", "BOSUN_DB_POOL_TIMEOUT": "10"})
    try:
        with httpx.Client(timeout=30) as http:
            assert _ready(http, running.base, 200)
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            def one(_: int) -> int:
                with httpx.Client(timeout=30) as http:
                    response = call(http, running.url, "hold", seconds=0.3)
                    return response.status_code if "result" in response.json() else 0
            results = list(pool.map(one, range(10)))
        elapsed = time.monotonic() - started
        assert results == [200] * 10
        assert elapsed >= 1.4  # 10 calls through 2 connections: five waves of 0.3 s, so they really queued
    finally:
        stop_server(running)


def test_pool_exhaustion_beyond_the_timeout_is_a_clear_error() -> None:
    running = start_server("tests/servers/data_server.py",
                           env={**DATA_ENV, "BOSUN_DB_POOL_SIZE": "1", "BOSUN_DB_MAX_OVERFLOW": "0", "BOSUN_DB_POOL_TIMEOUT": "0.5"})
    try:
        with httpx.Client(timeout=30) as http:
            assert _ready(http, running.base, 200)
            holder = threading.Thread(target=lambda: call(httpx.Client(timeout=30), running.url, "hold", seconds=3))
            holder.start()
            time.sleep(0.5)
            started = time.monotonic()
            response = call(http, running.url, "hold", seconds=0)
            waited = time.monotonic() - started
            holder.join()
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == -32603 and "Database busy" in error["message"]
        assert 0.4 < waited < 2.5  # the pool timeout, not a hang
    finally:
        stop_server(running)


def _idle_in_transaction() -> int:
    return int(psql("select count(*) from pg_stat_activity where application_name = 'bosun-datatest' "
                    "and state like 'idle in transaction%'"))


def test_no_connection_is_left_idle_in_transaction_after_errors_and_cancellations() -> None:
    running = start_server("tests/servers/data_server.py", env=DATA_ENV)
    try:
        with httpx.Client(timeout=30) as http:
            assert _ready(http, running.base, 200)
            before = int(call(http, running.url, "count", label="doomed").json()["result"]["structuredContent"]["result"])
            for _ in range(5):
                result = call(http, running.url, "write_then_fail").json()["result"]
                assert result["isError"] is True
            after = call(http, running.url, "count", label="doomed").json()["result"]["structuredContent"]["result"]
            assert after == before  # every failed write rolled back
            # Cancel calls in flight: a 2025 session sends notifications/cancelled for a tool holding a transaction.
            headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            session = http.post(running.url, json=init, headers=headers).headers["mcp-session-id"]
            headers = {**headers, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
            for request_id in range(1, 4):
                body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "hold", "arguments": {"seconds": 5}}}
                answer: list[httpx.Response] = []
                worker = threading.Thread(target=lambda b=body, out=answer: out.append(
                    httpx.post(running.url, json=b, headers=headers, timeout=30)))
                worker.start()
                time.sleep(0.4)
                cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
                assert http.post(running.url, json=cancel, headers=headers).status_code == 202
                worker.join(10)
                assert answer and answer[0].status_code == 202  # cancelled: no JSON-RPC response, no 500
            time.sleep(0.5)
            assert _idle_in_transaction() == 0
            metrics = http.get(running.base + "/metrics").text
            assert 'bosun_db_pool_connections{state="checkedout"} 0.0' in metrics
    finally:
        stop_server(running)


def test_postgres_restart_flips_readiness_and_is_survived() -> None:
    """On a private PostgreSQL: the machine's shared server is never stopped by a test."""
    database = PrivatePostgres(free_port())
    database.start()
    env = {**DATA_ENV, "DATABASE_URL": database.url}
    running = start_server("tests/servers/data_server.py", env=env)
    try:
        with httpx.Client(timeout=30) as http:
            assert _ready(http, running.base, 200)
            assert "result" in call(http, running.url, "count", label="x").json()
            database.stop()
            assert _ready(http, running.base, 503)
            body = http.get(running.base + "/ready").json()
            assert body["failing"] == ["database"]
            assert http.get(running.base + "/health").status_code == 200  # never restart for a database outage
            # Down: the same retryable 503 an exhausted pool gives, and none of the driver's text.
            down = call(http, running.url, "count", label="x")
            assert down.status_code == 503, down.text
            error = down.json()["error"]
            assert error["code"] == -32603 and "Database unavailable" in error["message"]
            assert "Errno" not in down.text and "refused" not in down.text.lower() and "127.0.0.1" not in down.text
            database.start()
            assert _ready(http, running.base, 200, timeout=30)
            results = [call(http, running.url, "count", label="x").json() for _ in range(5)]
            assert all("result" in result for result in results), results  # stale pooled connections were replaced
    finally:
        stop_server(running)
        database.remove()


def test_redis_outage_leaves_tool_calls_working(tmp_path: Path) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    running = start_server("tests/servers/data_server.py", env={**DATA_ENV, "REDIS_URL": redis.url})
    try:
        with httpx.Client(timeout=30) as http:
            assert _ready(http, running.base, 200)
            first = call(http, running.url, "clock").json()["result"]["structuredContent"]["result"]
            assert call(http, running.url, "clock").json()["result"]["structuredContent"]["result"] == first  # cached
            call(http, running.url, "tick")  # invalidates the "clock" tag
            fresh = call(http, running.url, "clock").json()["result"]["structuredContent"]["result"]
            assert fresh != first
            redis.stop()
            for _ in range(5):
                response = call(http, running.url, "clock").json()
                assert "result" in response and not response["result"].get("isError")
                assert "result" in call(http, running.url, "count", label="x").json()
            time.sleep(0.6)
            ready = http.get(running.base + "/ready")
            assert ready.status_code == 200 and ready.json()["checks"]["cache"]["ok"] is False
            assert 'bosun_cache_requests_total{result="error"}' in http.get(running.base + "/metrics").text
            redis.start()
            deadline = time.monotonic() + 10
            while not http.get(running.base + "/ready").json()["checks"]["cache"]["ok"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert http.get(running.base + "/ready").json()["checks"]["cache"]["ok"] is True
    finally:
        stop_server(running)
        redis.stop()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migrations_run_concurrently_from_two_processes(backend: str, tmp_path: Path) -> None:
    url = fresh_database("bosun_migrate_test") if backend == "postgresql" else f"sqlite:///{tmp_path}/notes.db"
    env = {**__import__("os").environ, "DATABASE_URL": url if backend == "postgresql" else "",
           "BOSUN_DATA_DIR": str(tmp_path)}
    runs = [subprocess.Popen([BOSUN, "db", "upgrade", "examples/notes/server.py"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(run.wait(60), run.communicate()) for run in runs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    current = subprocess.run([BOSUN, "db", "current", "examples/notes/server.py"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert "0001 (head)" in current.stdout
    if backend == "postgresql":
        assert psql("select count(*) from alembic_version", "bosun_migrate_test") == "1"
        assert psql("select count(*) from notes", "bosun_migrate_test") == "0"


def test_readiness_reports_a_schema_behind_the_code() -> None:
    url = fresh_database("bosun_behind_test")
    running = start_server("examples/notes/server.py", env={"DATABASE_URL": url, "BOSUN_READINESS_INTERVAL": "0.2"})
    try:
        with httpx.Client(timeout=30) as http:
            deadline = time.monotonic() + 15
            while http.get(running.base + "/ready").json()["status"] == "starting" and time.monotonic() < deadline:
                time.sleep(0.1)
            response = http.get(running.base + "/ready")
            assert response.status_code == 503
            detail = response.json()["checks"]["database"]["detail"]
            assert "bosun db upgrade" in detail and "expects 0001" in detail
            subprocess.run([BOSUN, "db", "upgrade", "examples/notes/server.py"], cwd=ROOT, check=True,
                           env={**__import__("os").environ, "DATABASE_URL": url}, capture_output=True, timeout=60)
            assert _ready(http, running.base, 200)
    finally:
        stop_server(running)
