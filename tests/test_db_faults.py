"""Database faults on a private PostgreSQL: stopped, frozen (SIGSTOP), restarted; what a client and /ready see.

Every wait is bounded: the server runs with a 1 s statement timeout (so a 2 s client-side command
timeout) and a 1 s pool timeout (so a 1 s connect and pre-ping deadline), and the readiness interval
stays at its 5 s default, to show that /ready follows the database faster than the interval."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_legacy_protocol import LegacyClient

from bosun.ops.health import Check, Health
from conftest import Running, free_port, meta, modern_call, modern_headers, start_server, stop_server
from pg import PrivatePostgres

APP = "bosun-datatest"  # the application_name data_server.py connects with
FAULT_ENV = {"BOSUN_DB_STATEMENT_TIMEOUT_MS": "1000", "BOSUN_DB_POOL_TIMEOUT": "1"}
CONNECT_DEADLINE = 1.0  # BOSUN_DB_POOL_TIMEOUT
COMMAND_DEADLINE = 2.0  # statement timeout + 1 s
DRIVER_WORDS = ("errno", "refused", "127.0.0.1", "asyncpg", "timeouterror", "sqlalchemy", "traceback", "connect call")


@pytest.fixture(scope="module")
def database() -> Iterator[PrivatePostgres]:
    private = PrivatePostgres(free_port())
    private.start()
    try:
        yield private
    finally:
        private.remove()


@pytest.fixture()
def server(database: PrivatePostgres) -> Iterator[Running]:
    if not (database.directory / "postmaster.pid").exists():
        database.start()
    running = start_server("tests/servers/data_server.py", env={**FAULT_ENV, "DATABASE_URL": database.url})
    try:
        yield running
    finally:
        stop_server(running)


def call(http: httpx.Client, running: Running, tool: str, **arguments: object) -> httpx.Response:
    return modern_call(http, running.url, "tools/call", {"name": tool, "arguments": arguments})


def wait_status(http: httpx.Client, url: str, want: int, timeout: float) -> float | None:
    """Poll every 100 ms; seconds until `url` answered `want`, or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if http.get(url).status_code == want:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return None


def assert_retryable(response: httpx.Response) -> None:
    """The answer a client should retry: 503, a JSON-RPC error, and nothing of the driver's."""
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == -32603 and error["message"] == "Database unavailable; retry later"
    assert not any(word in response.text.lower() for word in DRIVER_WORDS), response.text


def postmaster_tree(database: PrivatePostgres) -> list[int]:
    """The postmaster and its children (backends, checkpointer, ...), read from /proc."""
    postmaster = int((database.directory / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
            pids.append(int(entry))
    return pids


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a short-lived child (an autovacuum worker) may have gone
            os.kill(pid, signum)


def pool_checked_out(http: httpx.Client, running: Running) -> float:
    for line in http.get(running.base + "/metrics").text.splitlines():
        if line.startswith('bosun_db_pool_connections{state="checkedout"}'):
            return float(line.split()[-1])
    raise AssertionError("no pool gauge in /metrics")


def test_stopped_database_is_a_fast_retryable_503(database: PrivatePostgres, server: Running) -> None:
    with httpx.Client(timeout=30) as http:
        assert wait_status(http, server.base + "/ready", 200, 15) is not None
        assert "result" in call(http, server, "count", label="x").json()
        database.stop()
        started = time.monotonic()
        response = call(http, server, "count", label="x")
        elapsed = time.monotonic() - started
        assert_retryable(response)
        assert elapsed < 0.5, elapsed  # connection refused: no deadline to wait for
        assert http.get(server.base + "/ready").status_code == 503
        database.start()
        assert wait_status(http, server.base + "/ready", 200, 5) is not None
        assert all("result" in call(http, server, "count", label="x").json() for _ in range(3))


def test_database_503_carries_retry_after_in_both_eras(database: PrivatePostgres, server: Running) -> None:
    with httpx.Client(timeout=30) as http:
        assert wait_status(http, server.base + "/ready", 200, 15) is not None
        legacy = LegacyClient(server.url)
        database.stop()
        try:
            response = call(http, server, "count", label="x")
            assert_retryable(response)
            assert response.headers.get("retry-after") == "1", dict(response.headers)
            response = legacy.post({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                    "params": {"name": "count", "arguments": {"label": "x"}}})
            assert_retryable(response)
            assert response.json()["id"] == 7 and response.headers.get("retry-after") == "1"
        finally:
            legacy.close()
            database.start()


def test_a_write_whose_client_went_away_is_not_committed(database: PrivatePostgres, server: Running) -> None:
    """A client sends a write that takes a while (the insert, then a 0.8 s sleep in the same transaction, under
    the 1 s statement timeout) and disconnects after 0.3 s: the server cancels the call and the insert is rolled
    back (without the cancellation it would commit at 0.8 s)."""
    with httpx.Client(timeout=30) as http:
        assert wait_status(http, server.base + "/ready", 200, 15) is not None
        before = call(http, server, "count", label="held").json()["result"]["structuredContent"]["result"]
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "hold", "arguments": {"seconds": 0.8}, "_meta": meta()}}).encode()
        headers = "".join(f"{name}: {value}\r\n" for name, value in modern_headers("tools/call", "hold").items())
        port = int(server.base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.3)
        time.sleep(1.5)  # past the moment the write would have committed
        after = call(http, server, "count", label="held").json()["result"]["structuredContent"]["result"]
        assert after == before
        assert call(http, server, "hold", seconds=0.1).json()["result"]["structuredContent"]["result"] == "held"
        assert call(http, server, "count", label="held").json()["result"]["structuredContent"]["result"] == before + 1


def test_frozen_database_is_a_bounded_503_and_recovers(database: PrivatePostgres, server: Running) -> None:
    with httpx.Client(timeout=30) as http:
        assert wait_status(http, server.base + "/ready", 200, 15) is not None
        for _ in range(3):
            assert "result" in call(http, server, "count", label="x").json()
        in_flight: list[tuple[httpx.Response, float]] = []

        def hold() -> None:
            started = time.monotonic()
            with httpx.Client(timeout=30) as own:
                response = call(own, server, "hold", seconds=0.8)
            in_flight.append((response, time.monotonic() - started))

        holder = threading.Thread(target=hold)
        holder.start()
        time.sleep(0.3)  # the hold's statement is running on the server
        pids = postmaster_tree(database)
        frozen_at = time.monotonic()
        signal_all(pids, signal.SIGSTOP)
        try:
            started = time.monotonic()
            response = call(http, server, "count", label="x")
            new_call = time.monotonic() - started
            assert_retryable(response)
            assert new_call < CONNECT_DEADLINE + 1.0, new_call  # the pre-ping deadline, not a hang
            ready = http.get(server.base + "/ready")
            assert ready.status_code == 503 and ready.json()["failing"] == ["database"]
            assert http.get(server.base + "/health").status_code == 200  # a frozen database restarts nothing
            holder.join(15)
            assert in_flight, "the call in flight never answered"
            held, held_seconds = in_flight[0]
            assert_retryable(held)
            # The command deadline, plus up to 2 s SQLAlchemy gives a connection to close before terminating it.
            assert held_seconds < 0.3 + COMMAND_DEADLINE + 2.0 + 1.0, held_seconds
            assert pool_checked_out(http, server) <= 1  # at most the readiness check's own probe, still waiting
            print(f"\nfrozen: new call 503 after {new_call:.2f}s, call in flight 503 after {held_seconds:.2f}s "
                  f"({time.monotonic() - frozen_at:.2f}s frozen)")
        finally:
            signal_all(pids[::-1], signal.SIGCONT)
        back = wait_status(http, server.base + "/ready", 200, 5)
        assert back is not None and back < 2.0, back
        assert all("result" in call(http, server, "count", label="x").json() for _ in range(5))
        assert pool_checked_out(http, server) == 0
        print(f"frozen: /ready 200 {back:.2f}s after SIGCONT")


def test_ready_follows_stop_and_start_within_two_seconds(database: PrivatePostgres, server: Running) -> None:
    """No traffic at all: the pool's idle connections are the watch, and a failing check is retried fast."""
    with httpx.Client(timeout=5) as http:
        assert wait_status(http, server.base + "/ready", 200, 15) is not None
        time.sleep(0.5)
        began = time.monotonic()
        database.stop()
        stopped = time.monotonic()
        down = wait_status(http, server.base + "/ready", 503, 5)
        assert down is not None
        assert http.get(server.base + "/ready").json()["failing"] == ["database"]
        down_after_stop = stopped + down - began
        began = time.monotonic()
        database.start()
        started = time.monotonic()
        up = wait_status(http, server.base + "/ready", 200, 5)
        assert up is not None
        print(f"\n/ready: 503 {down:.2f}s after pg_ctl stop returned ({down_after_stop:.2f}s after it began); "
              f"200 {up:.2f}s after pg_ctl start returned ({started - began + up:.2f}s after it began)")
        assert down_after_stop < 2.0
        assert up < 2.0


def _statements(log: Path, offset: int) -> list[str]:
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    # Simple-protocol statements are logged as "statement: ...", prepared ones as "execute <name>: ...".
    return [line for line in text.splitlines() if line.startswith(APP + "|") and ("statement: " in line or "execute " in line)]


def test_a_healthy_database_is_not_checked_more_often(database: PrivatePostgres) -> None:
    """Every statement Bosun sends to an idle, healthy database, counted from the server's own log."""
    if not (database.directory / "postmaster.pid").exists():
        database.start()
    settings = "alter system set log_statement = 'all'; alter system set log_line_prefix = '%a|'; select pg_reload_conf()"
    for sql in settings.split("; "):
        subprocess.run(["psql", database.url, "-qAt", "-c", sql], check=True, capture_output=True, timeout=30)
    interval, window = 1.0, 5.0
    running = start_server("tests/servers/data_server.py",
                           env={**FAULT_ENV, "DATABASE_URL": database.url, "BOSUN_READINESS_INTERVAL": str(interval)})
    log = database.directory / "server.log"
    try:
        with httpx.Client(timeout=5) as http:
            assert wait_status(http, running.base + "/ready", 200, 15) is not None
            time.sleep(interval)
            offset = log.stat().st_size
            time.sleep(window)
            statements = _statements(log, offset)
            assert http.get(running.base + "/ready").status_code == 200
    finally:
        stop_server(running)
        subprocess.run(["psql", database.url, "-qAt", "-c", "alter system reset all"], capture_output=True, timeout=30)
        subprocess.run(["psql", database.url, "-qAt", "-c", "select pg_reload_conf()"], capture_output=True, timeout=30)
    rounds = window / interval + 1
    print(f"\nidle healthy database: {len(statements)} statements in {window:g}s at a {interval:g}s interval "
          f"({len(statements) / window:.2f}/s): {sorted(set(line.split(':', 2)[-1].strip() for line in statements))}")
    assert len(statements) <= 2 * rounds, statements  # one pre-ping and one `select 1` per round, at most


def test_reported_failure_and_live_checks_reach_ready_at_once() -> None:
    """Health alone: a watched dependency's report flips /ready without waiting for a round; so does a live check."""

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        reports: list[Any] = []

        def watch(report: Any) -> Any:
            reports.append(report)
            return lambda: None

        runs = {"count": 0, "ok": True}

        async def check() -> bool:
            runs["count"] += 1
            return bool(runs["ok"])

        saturated = {"value": False}
        health = Health([Check("database", check, watch=watch)], interval=30, retry_interval=0.1)
        health.add_live_check("sessions", lambda: (not saturated["value"], "full" if saturated["value"] else "ok"))
        seen: list[tuple[int, dict[str, Any]]] = []

        async def ready() -> None:
            sent: list[dict[str, Any]] = []

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            await health.ready_endpoint({}, None, send)  # type: ignore[arg-type]
            import orjson

            seen.append((sent[0]["status"], orjson.loads(sent[1]["body"])))

        await health.start()
        for _ in range(50):
            if health.started:
                break
            await asyncio.sleep(0.01)
        await ready()  # ready
        runs["ok"] = False
        reports[0](False, "unreachable, seen by a request")
        await ready()  # 503 at once, from the report
        await asyncio.sleep(0.35)  # retried about every 0.1 s while failing
        retried = runs["count"]
        runs["ok"] = True
        await asyncio.sleep(0.25)
        await ready()  # the retry saw it work again
        saturated["value"] = True
        await ready()  # a live check: 503 at once
        await health.stop()
        seen.append((retried, {}))
        return seen

    seen = asyncio.run(scenario())
    assert [status for status, _ in seen[:4]] == [200, 503, 200, 503]
    assert seen[1][1]["checks"]["database"]["detail"] == "unreachable, seen by a request"
    assert seen[3][1]["failing"] == ["sessions"] and seen[3][1]["checks"]["sessions"]["detail"] == "full"
    assert seen[4][0] >= 3  # first round, then fast retries while failing
