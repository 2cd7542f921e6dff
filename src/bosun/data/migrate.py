"""Alembic migrations: `bosun db upgrade|current|downgrade`, safe to run from many pods at once.

Run them as a Kubernetes Job or an init step, not on every start. Concurrent runs
serialize on a lock (a PostgreSQL advisory lock; a file lock for SQLite), so the
second runner finds the schema already at head and does nothing. Readiness reports
a database that is behind the revision the code expects.

A server's migrations directory holds a normal Alembic `env.py` that calls
`bosun.data.migrate.run_env()`, plus its `versions/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

LOCK_KEY = 0x6B6F7375_6E  # "bosun": the advisory lock id every Bosun migrator agrees on


def alembic_config(migrations: str, url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrations).resolve()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.lru_cache(maxsize=16)
def head_revision(migrations: str) -> str | None:
    """The revision the code expects (read once: the scripts do not change while serving)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(migrations, "sqlite://")).get_current_head()


async def current_revision(connection: Any) -> str | None:
    from sqlalchemy import text

    try:
        rows = (await connection.execute(text("select version_num from alembic_version"))).fetchall()
    except Exception:
        return None
    return rows[0][0] if rows else None


async def revision_problem(database: Any, migrations: str) -> str | None:
    """None when the database is at the code's head revision, else what is wrong (for /ready)."""
    expected = head_revision(migrations)
    async with database.engine.connect() as connection:
        found = await current_revision(connection)
    if found != expected:
        return f"database schema is at revision {found or 'none'}, the code expects {expected}: run `bosun db upgrade`"
    return None


@contextlib.contextmanager
def _file_lock(url: str) -> Iterator[None]:
    path = Path(url.split(":///", 1)[-1] + ".migrate.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_env() -> None:
    """The body of a migrations directory's env.py: online migrations over the async engine, under the lock."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    if url.startswith("sqlite"):
        with _file_lock(url):
            asyncio.run(_migrate(url))
    else:
        asyncio.run(_migrate(url))


async def _migrate(url: str) -> None:
    from alembic import context
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("select pg_advisory_lock(:key)"), {"key": LOCK_KEY})
                await connection.commit()
            else:
                await connection.execute(text("PRAGMA journal_mode=WAL"))  # persistent: the file stays in WAL mode
                await connection.commit()

            def migrate(sync_connection: Any) -> None:
                context.configure(connection=sync_connection, target_metadata=None, transaction_per_migration=True)
                with context.begin_transaction():
                    context.run_migrations()

            await connection.run_sync(migrate)
            await connection.commit()
            if connection.dialect.name == "postgresql":
                await connection.execute(text("select pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                await connection.commit()
    finally:
        await engine.dispose()


def command(action: str, migrations: str, url: str, revision: str | None = None) -> str:
    """Run an Alembic command; returns what to print, ending with the revision the database is now at."""
    from alembic import command as alembic

    config = alembic_config(migrations, url)
    if action == "upgrade":
        alembic.upgrade(config, revision or "head")
        return f"database upgraded to {revision or 'head'}: now at {_current(config)}"
    if action == "downgrade":
        alembic.downgrade(config, revision or "-1")
        return f"database downgraded to {revision or '-1'}: now at {_current(config)}"
    return _current(config)


def _current(config: Any) -> str:
    """The database's revision as Alembic shows it (`0002 (head)`), or `base` when none is applied."""
    import io

    from alembic import command as alembic

    buffer = io.StringIO()
    config.stdout = buffer
    alembic.current(config)
    return buffer.getvalue().strip() or "base (no revision applied)"


def upgrade_on_start(migrations: str, url: str) -> Callable[[], Awaitable[None]]:
    """BOSUN_MIGRATE_ON_START: for a single embedded instance; in Kubernetes run `bosun db upgrade` as a Job."""

    async def migrate() -> None:
        await asyncio.to_thread(command, "upgrade", migrations, url)  # Alembic runs its own event loop

    return migrate
