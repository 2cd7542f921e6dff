"""What a server's functions share at run time: the database and the cache, built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bosun.data.cache import Cache, cache_from_url


@dataclass(slots=True)
class AppState:
    cache: Cache
    database: Any = None  # bosun.data.db.Database, imported only by servers that use one
    tool_cache: bool = True  # BOSUN_TOOL_CACHE=false turns off tool-result caching (ctx.cache still works)
    redis_url: str = ""  # REDIS_URL with its credentials: what extensions that share state (tasks) connect to
    namespace: str = ""  # the server's name: their keys' prefix
    workers: int = 1  # `--workers N`: an extension whose state lives in the process refuses more than one without Redis

    async def close(self) -> None:
        """Shutdown hook: return every pooled connection and close the cache's connections."""
        if self.database is not None:
            await self.database.dispose()
        await self.cache.close()


def build_state(settings: Any, namespace: str, wants_database: bool) -> AppState:
    cache = cache_from_url(settings.redis_url.get_secret_value() or None, namespace, settings.cache_max_entries)
    database = None
    if wants_database:
        from bosun.data.db import Database

        database = Database(
            settings.database_url_or_default(),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            pool_recycle=settings.db_pool_recycle,
            pre_ping=settings.db_pre_ping,
            external_pool=settings.db_external_pool,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            application_name=f"bosun-{namespace}",
        )
    return AppState(cache, database, settings.tool_cache, settings.redis_url.get_secret_value(), namespace,
                    settings.workers)
