"""The async database: one SQLAlchemy engine per process, and sessions that always end.

PostgreSQL goes through asyncpg; SQLite through aiosqlite is the embedded default
(a file in the data directory, WAL mode), so a server runs with no database server.

`Database.session()` is the only way tools touch the database: the session commits
when the block succeeds, rolls back on any error or cancellation, and returns its
connection to the pool in every case. That is what keeps a pool from filling with
"idle in transaction" connections. Waiting for a connection is bounded by the pool
timeout and becomes a clear error ("database busy"), never a hang.

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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bosun.protocol.errors import INTERNAL_ERROR, McpError

log = logging.getLogger("bosun.db")


class DatabaseBusy(McpError):
    def __init__(self, timeout: float) -> None:
        super().__init__(INTERNAL_ERROR, f"Database busy: no connection became free within {timeout:g}s; retry later",
                         http_status=503)


class DatabaseUnavailable(McpError):
    """The database cannot be reached: the same retryable 503 as a busy pool, and none of the driver's text."""

    def __init__(self) -> None:
        super().__init__(INTERNAL_ERROR, "Database unavailable; retry later", http_status=503)


def _unreachable(exc: BaseException) -> bool:
    """Whether a failure means the database (or the connection to it) is gone, as opposed to a bad statement."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, OSError | ConnectionError | InterfaceError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Database:
    def __init__(self, url: str, *, pool_size: int = 5, max_overflow: int = 5, pool_timeout: float = 5.0,
                 pool_recycle: float = 1800.0, pre_ping: bool = True, external_pool: bool = False,
                 statement_timeout_ms: int = 30_000, application_name: str = "bosun", echo: bool = False) -> None:
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        self.url = url
        self.pool_timeout = pool_timeout
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        options: dict[str, Any] = {"echo": echo, "pool_pre_ping": pre_ping}
        if self.dialect == "sqlite":
            _ensure_sqlite_dir(url)
            options["connect_args"] = {"timeout": pool_timeout}
        elif self.dialect == "postgresql":
            server_settings = {"application_name": application_name, "statement_timeout": str(statement_timeout_ms)}
            options["connect_args"] = {"server_settings": server_settings}
            if external_pool:
                options["connect_args"]["statement_cache_size"] = 0  # PgBouncer in transaction mode
        if external_pool:
            options["poolclass"] = NullPool
        else:
            options.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout,
                           pool_recycle=pool_recycle)
        self.engine = create_async_engine(url, **options)
        self.waits: list[float] = []  # checkout waits since the last scrape (bounded)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        """A session in a transaction: committed on success, rolled back on error or cancellation."""
        from sqlalchemy.exc import TimeoutError as PoolTimeout
        from sqlalchemy.ext.asyncio import AsyncSession

        started = time.perf_counter()
        try:
            connection = await self.engine.connect()
        except PoolTimeout:
            raise DatabaseBusy(self.pool_timeout) from None
        except Exception as exc:
            if _unreachable(exc):
                log.warning("database unavailable: %s", type(exc).__name__)
                raise DatabaseUnavailable() from None
            raise
        self._record_wait(time.perf_counter() - started)
        session = AsyncSession(bind=connection, expire_on_commit=False)
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            # Shielded: a cancelled call must still roll back and hand its connection back.
            await asyncio.shield(_rollback(session))
            if isinstance(exc, Exception) and not isinstance(exc, McpError) and _unreachable(exc):
                log.warning("database connection lost: %s", type(exc).__name__)
                raise DatabaseUnavailable() from None
            raise
        finally:
            await asyncio.shield(_close(session, connection))

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
        from sqlalchemy import text

        async with self.engine.connect() as connection:
            await connection.execute(text("select 1"))

    async def dispose(self) -> None:
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
