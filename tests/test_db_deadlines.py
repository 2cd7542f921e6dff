"""Database deadlines inside SQL, on a private PostgreSQL: a frozen server against a slow statement.

Issue 19 item 2: PostgreSQL frozen (SIGSTOP) for as long as its statement timeout; at SIGCONT the timeout fired
first and the call inside SQL got "Tool ... failed unexpectedly" instead of the retryable 503. Here the server runs
with a 3 s statement timeout (4 s client-side command deadline) and a 1 s pool timeout (so a 1 s connect deadline
and a 1 s stall threshold for the in-flight watch): a frozen server must give the 503 well before the statement
timeout, a slow statement on a live server must give a tool error that names the statement timeout."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from test_db_faults import assert_retryable, call, postmaster_tree, signal_all, wait_status
from test_legacy_protocol import LegacyClient

from bosun.data.db import Database, DatabaseUnavailable, StatementTimeout
from conftest import Running, free_port, sse_messages, start_server, stop_server
from pg import PrivatePostgres

APP = "bosun-datatest"
STATEMENT_TIMEOUT = 3.0
DEADLINE_ENV = {"BOSUN_DB_STATEMENT_TIMEOUT_MS": str(int(STATEMENT_TIMEOUT * 1000)), "BOSUN_DB_POOL_TIMEOUT": "1"}
# The in-flight watch: a session 1 s (the connect timeout) in SQL, a probe of up to 1 s, a 0.25 s tick, clean-up.
FROZEN_BOUND = 1.0 + 1.0 + 0.25 + 0.5


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
    running = start_server("tests/servers/data_server.py", env={**DEADLINE_ENV, "DATABASE_URL": database.url})
    try:
        yield running
    finally:
        stop_server(running)


def held_rows(http: httpx.Client, running: Running) -> int:
    return int(call(http, running, "count", label="held").json()["result"]["structuredContent"]["result"])


def busy_backends(database: PrivatePostgres) -> int:
    """Bosun's connections that are not idle (in a statement or a transaction), as PostgreSQL sees them."""
    sql = f"select count(*) from pg_stat_activity where application_name = '{APP}' and state <> 'idle'"
    run = subprocess.run(["psql", database.url, "-qAt", "-c", sql], check=True, capture_output=True, text=True, timeout=10)
    return int(run.stdout.strip())


def hold(running: Running, seconds: float, legacy: bool) -> httpx.Response:
    """`hold` (an insert, then `pg_sleep`, in one transaction) in either protocol era."""
    if not legacy:
        with httpx.Client(timeout=30) as own:
            return call(own, running, "hold", seconds=seconds)
    client = LegacyClient(running.url)
    try:
        client.http.timeout = httpx.Timeout(30)
        return client.post({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                            "params": {"name": "hold", "arguments": {"seconds": seconds}}})
    finally:
        client.close()


@pytest.mark.parametrize(("era", "frozen_for"), [("modern", STATEMENT_TIMEOUT + 0.2), ("legacy", 2 * STATEMENT_TIMEOUT)],
                         ids=["modern-thawed-between-timeouts", "legacy-frozen-twice-the-timeout"])
def test_a_statement_on_a_frozen_database_is_a_503_before_its_timeout(
        database: PrivatePostgres, server: Running, era: str, frozen_for: float) -> None:
    """A write inside SQL when PostgreSQL freezes: 503 with Retry-After within the watch's bound, not the statement
    timeout's "failed unexpectedly" at SIGCONT (the first case thaws between the statement timeout and the client's
    command deadline, as in the issue), and the write is rolled back."""
    with httpx.Client(timeout=30) as http:
        assert wait_status(http, server.base + "/ready", 200, 15) is not None
        before = held_rows(http, server)
        answered: list[tuple[httpx.Response, float]] = []

        def run() -> None:
            began = time.monotonic()
            response = hold(server, STATEMENT_TIMEOUT - 0.5, legacy=era == "legacy")  # in time on a live server
            answered.append((response, time.monotonic() - began))

        caller = threading.Thread(target=run)
        started = time.monotonic()
        caller.start()
        time.sleep(0.3)  # the insert is done and pg_sleep is running
        pids = postmaster_tree(database)
        signal_all(pids, signal.SIGSTOP)
        try:
            caller.join(frozen_for)
            assert answered, f"no answer within {frozen_for:g}s of the freeze"
            response, elapsed = answered[0]
            assert_retryable(response)
            assert response.headers.get("retry-after") == "1", dict(response.headers)
            assert elapsed < FROZEN_BOUND < STATEMENT_TIMEOUT, elapsed
            time.sleep(max(0.0, started + 0.3 + frozen_for - time.monotonic()))
        finally:
            signal_all(pids[::-1], signal.SIGCONT)
        thawed = time.monotonic()
        back = wait_status(http, server.base + "/ready", 200, 5)
        assert back is not None and back < 2.0, back
        assert held_rows(http, server) == before  # rolled back, never committed
        deadline = time.monotonic() + 5
        while busy_backends(database) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert busy_backends(database) == 0  # the terminated backend's transaction is gone, not idle in it
        assert call(http, server, "hold", seconds=0.1).json()["result"]["structuredContent"]["result"] == "held"
        assert held_rows(http, server) == before + 1
        print(f"\n{era}: 503 after {elapsed:.2f}s in SQL (frozen {frozen_for:g}s, statement timeout "
              f"{STATEMENT_TIMEOUT:g}s); /ready 200 {back:.2f}s after SIGCONT; recovered in {time.monotonic() - thawed:.2f}s")


@pytest.mark.parametrize("era", ["modern", "legacy"])
def test_a_slow_statement_on_a_live_database_is_a_tool_error_naming_the_timeout(server: Running, era: str) -> None:
    """The user's own slow query: PostgreSQL cancels it at the statement timeout; the model reads why (HTTP 200,
    isError), the server stays ready throughout (the in-flight watch probes and finds it alive), and the
    transaction's insert is rolled back."""
    with httpx.Client(timeout=30) as http:
        assert wait_status(http, server.base + "/ready", 200, 15) is not None
        before = held_rows(http, server)
        answered: list[tuple[httpx.Response, float]] = []

        def run() -> None:
            began = time.monotonic()
            answered.append((hold(server, STATEMENT_TIMEOUT + 2, legacy=era == "legacy"), time.monotonic() - began))

        caller = threading.Thread(target=run)
        caller.start()
        time.sleep(STATEMENT_TIMEOUT - 0.5)  # past the stall threshold and a probe
        assert http.get(server.base + "/ready").status_code == 200
        caller.join(10)
        assert answered, "the slow call never answered"
        response, elapsed = answered[0]
        assert response.status_code == 200, response.text
        sse = response.headers["content-type"].startswith("text/event-stream")
        result = (sse_messages(response.text)[-1] if sse else response.json())["result"]
        text = result["content"][0]["text"]
        assert result["isError"] is True
        assert text == f"The database cancelled a statement that ran longer than the statement timeout ({STATEMENT_TIMEOUT:g}s)", text
        assert STATEMENT_TIMEOUT - 0.1 < elapsed < STATEMENT_TIMEOUT + 1.0, elapsed  # the server's timeout, not ours
        assert http.get(server.base + "/ready").status_code == 200
        assert held_rows(http, server) == before
        print(f"\n{era}: statement timeout after {elapsed:.2f}s: {text!r}")


def test_a_statement_cancelled_after_an_outage_was_seen_is_a_503(database: PrivatePostgres) -> None:
    """The statement timeout fires at the same moment whether the statement was slow or the server was frozen
    (its timer fires the moment it thaws): what decides is whether the database was seen unreachable during the
    session, here by another request (the in-flight watch is kept out of the way by a long connect timeout)."""
    if not (database.directory / "postmaster.pid").exists():
        database.start()
    from sqlalchemy import text

    async def scenario() -> list[str]:
        db = Database(database.url.replace("postgresql://", "postgresql+asyncpg://", 1), statement_timeout_ms=500,
                      pool_timeout=1, connect_timeout=5)
        outcomes: list[str] = []
        try:
            for outage in (False, True):
                try:
                    async with db.session() as session:
                        if outage:
                            db._saw_down(TimeoutError())  # what a request on another connection reports when it times out
                        await session.execute(text("select pg_sleep(2)"))
                except (StatementTimeout, DatabaseUnavailable) as exc:
                    outcomes.append(f"{type(exc).__name__}: {exc} (reachable {db.reachable})")
            async with db.session() as session:
                answer = (await session.execute(text("select 1"))).scalar_one()
            outcomes.append(f"then {answer} (reachable {db.reachable})")
        finally:
            await db.dispose()
        return outcomes

    assert asyncio.run(scenario()) == [
        "StatementTimeout: The database cancelled a statement that ran longer than the statement timeout (0.5s) (reachable True)",
        "DatabaseUnavailable: Database unavailable; retry later (reachable False)",
        "then 1 (reachable True)",
    ]
