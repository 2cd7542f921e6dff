"""The async database: one SQLAlchemy engine per process, and sessions that always end.

PostgreSQL goes through asyncpg; SQLite through aiosqlite is the embedded default
(a file in the data directory, WAL mode), so a server runs with no database server.

`Database.session()` is the only way tools touch the database: the session commits
when the block succeeds, rolls back on any error or cancellation, and returns its
connection to the pool in every case. That is what keeps a pool from filling with
"idle in transaction" connections. Waiting for a connection is bounded by the pool
timeout and becomes a clear error ("database busy"), never a hang.

Every wait has a deadline, because a database that is frozen (a stopped VM, a
network partition that drops packets) answers nothing and would otherwise hold a
request, and its pooled connection, for ever. From the outside in:

* a free pooled connection: `pool_timeout`, else `DatabaseBusy` (503);
* connecting, and the check of a pooled connection on checkout: `connect_timeout`
  (default: the pool timeout), else `DatabaseUnavailable` (503);
* a session in SQL on a server that stopped answering: the in-flight watch
  (inflight.py) cuts it within `2 x connect_timeout` plus a tick, before the statement
  timeout can fire, and it is `DatabaseUnavailable` (503);
* the caller's own slow statement on a live server: PostgreSQL's `statement_timeout`
  cancels it, `StatementTimeout`, a failure the client reads (not a 503: a retry would
  fail the same way); `command_timeout` (that plus a second) is the client's backstop;
* cleaning up after a failure: `cleanup_timeout`; a connection that cannot even roll
  back in that time is terminated and dropped from the pool, never handed out again.

A cancelled statement is an outage, not a slow query, if the database was seen
unreachable during its session (`outages` moved) or is now: a frozen server's timer
fires the moment it thaws. Whatever the answer, the transaction is rolled back and
no driver text reaches the client.

Reachability is also a signal for readiness: `subscribe(listener)` hears "it failed"
(a connect failure or a timeout seen by a real request), "it works again", and "look
again now" (a pooled connection was closed by the server). Idle pooled connections
are the watch: PostgreSQL closes them when it shuts down, so an outage with no
traffic is noticed without a single extra query.

Sizing: each replica holds up to `pool_size + max_overflow` connections; keep
`replicas x workers x (pool_size + max_overflow)` under PostgreSQL's
`max_connections` minus a reserve for migrations and operators. Behind PgBouncer
in transaction mode set `db_external_pool` (no pool here, no prepared statements).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from bosun.data.errors import DatabaseBusy, DatabaseUnavailable, StatementCancelled, StatementTimeout, cancelled_statement, unreachable
from bosun.data.inflight import InFlight, prober
from bosun.ops.logs import Throttled
from bosun.protocol.errors import McpError
from bosun.protocol.liveness import watch_client

log = logging.getLogger("bosun.db")
__all__ = ["Database", "DatabaseBusy", "DatabaseUnavailable", "StatementCancelled", "StatementTimeout"]

Listener = Callable[[bool | None, str], None]
"""Hears reachability: False (it failed), True (it works again) or None (look again now), and why."""


def _default_command_timeout(statement_timeout_ms: int) -> float | None:
    """The server's statement timeout plus a second; none when the server has none (0 turns deadlines off)."""
    return statement_timeout_ms / 1000 + 1.0 if statement_timeout_ms > 0 else None


class Database:
    def __init__(self, url: str, *, pool_size: int = 5, max_overflow: int = 5, pool_timeout: float = 5.0,
                 pool_recycle: float = 1800.0, pre_ping: bool = True, external_pool: bool = False,
                 statement_timeout_ms: int = 30_000, application_name: str = "bosun", echo: bool = False,
                 command_timeout: float | None = None, connect_timeout: float | None = None,
                 cleanup_timeout: float | None = None) -> None:
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        self.url = url
        self.pool_timeout = pool_timeout
        self.statement_timeout = statement_timeout_ms / 1000  # seconds, for the client's StatementTimeout message
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self.command_timeout = command_timeout if command_timeout is not None else _default_command_timeout(
            statement_timeout_ms)
        self.connect_timeout = connect_timeout if connect_timeout is not None else pool_timeout
        self.cleanup_timeout = cleanup_timeout if cleanup_timeout is not None else min(2.0, pool_timeout)
        # PostgreSQL's pre-ping is our own (see `_pre_ping`): SQLAlchemy's waits the full command timeout.
        options: dict[str, Any] = {"echo": echo, "pool_pre_ping": pre_ping and self.dialect != "postgresql"}
        if self.dialect == "sqlite":
            _ensure_sqlite_dir(url)
            options["connect_args"] = {"timeout": pool_timeout}
        elif self.dialect == "postgresql":
            server_settings = {"application_name": application_name, "statement_timeout": str(statement_timeout_ms)}
            options["connect_args"] = {"server_settings": server_settings, "timeout": self.connect_timeout,
                                       "command_timeout": self.command_timeout}
            if external_pool:
                options["connect_args"]["statement_cache_size"] = 0  # PgBouncer in transaction mode
        if external_pool:
            options["poolclass"] = NullPool
        else:
            options.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout,
                           pool_recycle=pool_recycle)
        self.engine = create_async_engine(url, **options)
        self.waits: list[float] = []  # checkout waits since the last scrape (bounded)
        self.reachable = True  # as last seen by a real operation or a ping
        self.outages = 0  # turns from reachable to not: a session compares it at its start and at a cancellation
        self._inflight: InFlight | None = None
        self._warn = Throttled(log)  # an outage is one warning per 30 s, not one per request
        self._listeners: list[Listener] = []
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        elif self.dialect == "postgresql" and not external_pool:
            # Behind PgBouncer a closed connection says nothing about PostgreSQL, so only a real pool is watched.
            event.listen(self.engine.sync_engine, "connect", self._watch)
            if pre_ping:
                event.listen(self.engine.sync_engine.pool, "checkout", self._pre_ping)
            event.listen(self.engine.sync_engine.pool, "close", self._unwatch)
            event.listen(self.engine.sync_engine.pool, "close_detached", self._unwatch)
            if self.engine.dialect.driver == "asyncpg":  # the watch over sessions in SQL (inflight.py)
                probe = prober(self.engine.dialect, self.engine.url, options["connect_args"])
                self._inflight = InFlight(self.connect_timeout, probe, self._stalled, self._cut)

    # Reachability, for readiness.
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Hear reachability changes as they happen; returns the way to stop hearing them."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, ok: bool | None, detail: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(ok, detail)
            except Exception:
                log.exception("reachability listener failed")

    def _saw_up(self) -> None:
        """A real operation worked: only a change is passed on, so a healthy database costs one comparison."""
        if not self.reachable:
            self.reachable = True
            self._notify(True, "a request reached the database")

    def _saw_down(self, exc: BaseException, seen_by: str = "a request") -> None:
        """No connection could be made, or a deadline passed: the server is not answering."""
        if self._down():
            self._notify(False, f"database unreachable ({type(exc).__name__}), seen by {seen_by}")

    def _down(self) -> bool:
        """Mark the database unreachable; True when that is news (and then one more outage is counted)."""
        if not self.reachable:
            return False
        self.reachable = False
        self.outages += 1
        return True

    def _stalled(self, sessions: int) -> None:
        """The in-flight watch found sessions stalled in SQL and the server not answering a new connection."""
        self._warn.warning("database not answering: %d session(s) in SQL for over %gs and no new connection "
                           "within %gs; cutting their connections", sessions, self.connect_timeout, self.connect_timeout)
        self._saw_down(TimeoutError(), "the in-flight watch")

    def _cut(self, connection: Any) -> None:
        """Terminate a stalled session's driver connection: its pending await fails at once (no I/O here)."""
        sync = connection.sync_connection
        if sync is None or sync.closed or sync.invalidated:
            return
        raw = sync.connection  # open and valid: the pool's record as it is, never a reconnection
        self._unwatch(raw)  # not news: the watch already said the server is down
        raw.driver_connection.terminate()

    def _saw_lost(self, exc: BaseException) -> None:
        """A connection broke: maybe one backend was killed, maybe the server is gone; the check decides."""
        if isinstance(exc, TimeoutError):
            self._saw_down(exc)
        elif self.reachable:
            self._notify(None, f"a connection was lost ({type(exc).__name__})")

    def _watch(self, dbapi_connection: Any, record: Any) -> None:
        record.info["bosun_fresh"] = True  # just connected: no need to ping it on its first checkout
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and hasattr(driver, "add_termination_listener"):
            driver.add_termination_listener(self._terminated)

    def _unwatch(self, dbapi_connection: Any, *_: Any) -> None:
        """The pool is closing this connection itself (recycle, invalidation, shutdown): not news."""
        driver = getattr(dbapi_connection, "driver_connection", None)
        with contextlib.suppress(Exception):
            driver.remove_termination_listener(self._terminated)  # type: ignore[union-attr]

    def _terminated(self, _: Any) -> None:
        self._notify(None, "the server closed a pooled connection")

    def _pre_ping(self, dbapi_connection: Any, record: Any, _: Any) -> None:
        """Check a pooled connection on checkout under `connect_timeout`, not the (long) command timeout.

        A frozen server is then found in seconds, and the connection is terminated at once rather than
        closed politely (which waits for an answer that will not come). A connection the server closed
        is replaced, as SQLAlchemy's own pre-ping does."""
        from sqlalchemy.exc import DisconnectionError
        from sqlalchemy.util import await_only

        if record.info.pop("bosun_fresh", False):
            return
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("connection closed")
        try:
            await_only(self._probe(dbapi_connection))
        except (TimeoutError, asyncio.CancelledError):
            raise  # not a reconnect: the server is not answering, so a new connection would wait again
        except Exception as exc:
            raise DisconnectionError(f"pre-ping failed: {type(exc).__name__}") from exc

    async def _probe(self, dbapi_connection: Any) -> None:
        """`select 1` on the driver under `connect_timeout`; a connection that fails it is terminated on the spot."""
        driver = dbapi_connection.driver_connection
        try:
            # The simple protocol (no prepared statement, fine behind PgBouncer); asyncpg cannot parse an empty ";".
            await driver.execute("select 1", timeout=self.connect_timeout)
        except BaseException:
            self._unwatch(dbapi_connection)
            driver.terminate()  # a polite close would wait for a server that did not answer
            raise

    # Sessions.
    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        """A session in a transaction: committed on success, rolled back on error or cancellation.

        Inside a request, the request is cancelled if its client disconnects, so a transaction whose
        client gave up is rolled back, never committed for nobody."""
        from sqlalchemy.ext.asyncio import AsyncSession

        watch_client()
        try:
            connection = await self._connect()
        except DatabaseBusy:
            raise
        except Exception as exc:
            # Whatever stops a connection being made (refused, a deadline, "the database system is shutting
            # down", too many clients) is not the caller's statement: never a driver message in the answer.
            self._warn.warning("database unavailable: %s", self._reason(exc))
            self._saw_down(exc)
            raise DatabaseUnavailable() from None
        session = AsyncSession(bind=connection, expire_on_commit=False)
        outages, inflight = self.outages, self._inflight
        try:
            try:
                if inflight is not None:
                    inflight.enter(connection)
                yield session
                await session.commit()
            finally:
                if inflight is not None:
                    inflight.leave(connection)  # before the connection goes back: no longer ours to cut
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) and not isinstance(exc, McpError) else None
            if failure is not None and unreachable(failure):
                self._warn.warning("database connection lost: %s", self._reason(failure, self.command_timeout))
                self._saw_lost(failure)
                await asyncio.shield(self._discard(connection))
                raise DatabaseUnavailable() from None
            # Shielded: a cancelled call must still roll back and hand its connection back.
            await asyncio.shield(self._bounded(_rollback(session), connection))
            cancelled = cancelled_statement(failure, self.statement_timeout) if failure is not None else None
            if cancelled is None:
                raise
            if outages != self.outages or not self.reachable:
                # A frozen server's statement timer fires the moment it thaws: an outage, not a slow query.
                self._warn.warning("a statement was cancelled by the server after an outage during its session")
                raise DatabaseUnavailable() from None
            raise cancelled from None
        else:
            self._saw_up()
        finally:
            await asyncio.shield(self._bounded(_close(session, connection), connection))

    async def _connect(self) -> Any:
        """A pooled connection; `DatabaseBusy` when none became free within the pool timeout."""
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        started = time.perf_counter()
        try:
            connection = await self.engine.connect()
        except PoolTimeout:
            raise DatabaseBusy(self.pool_timeout) from None
        self._record_wait(time.perf_counter() - started)
        return connection

    def _reason(self, exc: BaseException, deadline: float | None = None) -> str:
        """One line for logs and /ready (never for a client): what stopped the connection."""
        if isinstance(exc, TimeoutError):
            deadline = self.connect_timeout if deadline is None else deadline
            return f"no answer within {deadline:g}s"
        first = (str(exc).splitlines() or [""])[0][:200]
        return f"{type(exc).__name__}: {first}" if first else type(exc).__name__

    async def _bounded(self, cleanup: Awaitable[None], connection: Any) -> None:
        """Run a rollback or a close under `cleanup_timeout`; past it, the connection is terminated instead."""
        try:
            await asyncio.wait_for(cleanup, self.cleanup_timeout)
        except TimeoutError:
            log.warning("database cleanup took over %gs; terminating the connection", self.cleanup_timeout)
            await self._discard(connection)

    async def _discard(self, connection: Any) -> None:
        """Terminate the driver connection at once (no goodbye to a server that will not answer) and drop it."""
        with contextlib.suppress(Exception):
            if not connection.invalidated:
                raw = await connection.get_raw_connection()
                self._unwatch(raw.dbapi_connection)
                driver = raw.driver_connection
                if driver is not None and hasattr(driver, "terminate"):
                    driver.terminate()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.invalidate(), self.cleanup_timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), self.cleanup_timeout)

    def _record_wait(self, seconds: float) -> None:
        if len(self.waits) < 10_000:
            self.waits.append(seconds)

    def pool_status(self) -> dict[str, int]:
        pool = self.engine.pool
        status = {}
        for name in ("size", "checkedin", "checkedout", "overflow"):
            getter = getattr(pool, name, None)
            if callable(getter):
                status[name] = max(0, int(getter()))  # SQLAlchemy counts overflow below zero until the pool is full
        return status

    async def ping(self) -> None:
        """`select 1` on a pooled connection, under the same deadlines as a session; for readiness.

        Raises `ConnectionError` naming the cause (for the /ready body), not a client-facing error."""
        from sqlalchemy import text

        try:
            connection = await self._connect()
        except DatabaseBusy:
            raise
        except Exception as exc:
            self._down()
            raise ConnectionError(self._reason(exc)) from None
        worked = False
        try:
            if self.dialect == "postgresql":
                raw = await connection.get_raw_connection()
                await self._probe(raw.dbapi_connection)
            else:
                await connection.execute(text("select 1"))
            worked = True
        except Exception as exc:
            if unreachable(exc):
                self._down()
                raise ConnectionError(self._reason(exc)) from None
            raise
        finally:
            # A ping that failed or was cancelled (by the check's timeout) leaves nothing behind in the pool.
            cleanup = self._bounded(connection.close(), connection) if worked else self._discard(connection)
            await asyncio.shield(cleanup)
        self.reachable = True

    async def dispose(self) -> None:
        if self._inflight is not None:
            await self._inflight.close()
        await self.engine.dispose()


async def _rollback(session: Any) -> None:
    with contextlib.suppress(Exception):
        await session.rollback()


async def _close(session: Any, connection: Any) -> None:
    with contextlib.suppress(Exception):
        await session.close()
    with contextlib.suppress(Exception):
        await connection.close()


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
