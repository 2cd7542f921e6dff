"""The first task after a Redis restart starts at once, not a lease later.

docket's pools kept the connections of the Redis that was restarted; the first command on one failed, and when it
was the worker's claim of the run it had just read, the run waited out its lease (`redelivery_seconds`) before
another read took it: 3.1-4.0 s with a 3 s lease, where a run otherwise starts in about 13 ms. Bosun gives docket's
pools one retry on a dead connection (bosun/tasks/docket_links.py). The engine runs here on its own, against a real
private Redis restarted empty (`--save ""`), as a replica's would.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from conftest import free_port
from pg import PrivateRedis

LEASE = 5.0  # a run taken late would start at least this long after it was submitted


def test_the_first_run_after_a_redis_restart_starts_at_once(tmp_path: Path) -> None:
    from bosun.tasks.docket_engine import DocketEngine

    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    started: dict[str, float] = {}

    async def run(task_id: str) -> None:
        started[task_id] = time.monotonic()

    async def until_started(engine: DocketEngine, task_id: str) -> float:
        submitted = time.monotonic()
        await engine.submit(task_id, 0)
        while task_id not in started and time.monotonic() - submitted < LEASE * 2:
            await asyncio.sleep(0.01)
        return started.get(task_id, float("inf")) - submitted

    async def scenario() -> list[float]:
        engine = DocketEngine(redis.url, "restart", 4, LEASE)
        await engine.start(run)
        try:
            waits = [await until_started(engine, "before")]
            for round_number in range(3):  # three restarts, each brief, each empty
                redis.stop()
                await asyncio.sleep(0.5)
                redis.start()
                await asyncio.sleep(1.2)  # past the worker's own 1 s reconnection delay
                waits.append(await until_started(engine, f"after-{round_number}"))
            return waits
        finally:
            await engine.close(1.0)

    try:
        waits = asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        redis.stop()
    print(f"\nstarted after: {', '.join(f'{wait:.3f}s' for wait in waits)} (before the restarts, then after each)")
    assert all(wait < 1.0 for wait in waits), waits
