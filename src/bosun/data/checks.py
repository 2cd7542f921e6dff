"""Readiness checks and metrics for the data layer (never liveness: a database blip restarts nothing).

The database check also watches the database (`Database.subscribe`): a request that cannot reach it, or
PostgreSQL closing the pool's idle connections as it shuts down, reaches /ready at once instead of at
the next round of checks, and costs a healthy database no extra query."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bosun.data.cache import RedisCache
from bosun.data.state import AppState
from bosun.ops.health import Check
from bosun.ops.metrics_core import Histogram, add_collector

_collector: _DataCollector | None = None


def data_checks(state: AppState, migrations: str | None, settings: Any) -> list[Check]:
    checks = []
    if state.database is not None:
        database = state.database

        async def check_database() -> None:
            await database.ping()
            if migrations is not None:
                from bosun.data.migrate import revision_problem

                problem = await revision_problem(database, migrations)
                if problem is not None:
                    raise RuntimeError(problem)

        checks.append(Check("database", check_database, critical=True, watch=database.subscribe))
    if isinstance(state.cache, RedisCache):
        cache = state.cache
        checks.append(Check("cache", cache.ping, critical=False, timeout=1.0))
    return checks


def register_data_metrics(state: AppState) -> None:
    """Pool gauges, checkout waits and cache outcomes, read at scrape time.

    One collector per process, reading the state of the app built last: a module that builds its app
    (`app = server.asgi_app()`) and is then served by `bosun serve` builds two, and the served one is the later.
    """
    global _collector
    if _collector is not None:
        _collector.state = state
        return
    _collector = _DataCollector(state)
    add_collector(_collector)


class _DataCollector:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.waits = Histogram((0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0))

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        cache = self.state.cache
        stats = getattr(cache, "stats", None)
        if stats is not None:
            family = CounterMetricFamily("bosun_cache_requests", "Cache lookups and failures", labels=["result"])
            for result, count in stats.items():
                family.add_metric([result], count)
            yield family
        database = self.state.database
        if database is None:
            return
        pool = GaugeMetricFamily("bosun_db_pool_connections", "Database pool connections by state", labels=["state"])
        for name, value in database.pool_status().items():
            pool.add_metric([name], value)
        yield pool
        waits, database.waits = database.waits, []
        for seconds in waits:
            self.waits.observe(seconds)
        histogram = HistogramMetricFamily("bosun_db_checkout_wait_seconds", "Time waiting for a pooled connection")
        histogram.add_metric([], self.waits.cumulative(), self.waits.total)
        yield histogram
