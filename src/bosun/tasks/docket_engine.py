"""Tasks on docket (pydocket): a maintained, Redis-streams task engine, the one FastMCP runs its tasks on.

Why docket (docs/tasks.md says more): its work lives in a Redis stream read by a consumer group, so a
submitted run survives the replica that submitted it; a run whose replica dies is claimed by another once
its lease lapses (`redelivery_timeout`; live workers renew their leases every quarter of it); a cancel
reaches the coroutine running the key on whichever replica holds it (pub/sub); and it speaks the URL forms
Bosun's `REDIS_URL` takes (single node, `rediss://`, Sentinel, Cluster). Bosun hands it only a task id:
the arguments stay in Bosun's own record (bosun.tasks.record), which lives exactly as long as the task.

Delivery is at least once. The runner (bosun.tasks.runner) tells a redelivered run from a new one by the
record's counts, so a tool that is not safe to repeat ends `failed` rather than running twice.

On a Cluster, three gaps of pydocket 0.27.2 and redis-py 8.1.0 stopped every task from running (a several-seed
URL, a private CA or an encoded password, a dead primary): `docket_url` and bosun/tasks/docket_cluster.py close
them, and tests/test_tasks_topologies.py shows each. Its pools' connections get Bosun's one retry on a dead
connection (bosun/tasks/docket_links.py): without it, the first run after a Redis restart started a lease late.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from bosun.tasks.docket_cluster import docket_url, mend_keys, mend_pubsub
from bosun.tasks.docket_links import mend_retry
from bosun.tasks.engine import Run


class DocketEngine:
    def __init__(self, url: str, name: str, concurrency: int, redelivery_seconds: float) -> None:
        from docket import Docket

        self.docket = Docket(name=name, url=docket_url(url), execution_ttl=timedelta(minutes=5))
        if url.partition("://")[0].endswith("+cluster"):
            mend_pubsub(self.docket, url)
        self.concurrency = concurrency
        self.redelivery = timedelta(seconds=redelivery_seconds)
        self._worker: Any = None
        self._working: asyncio.Task[None] | None = None
        self._function: Any = None
        self._running = 0
        self._queued = 0

    async def start(self, run: Run) -> None:
        from docket import Worker

        engine = self

        async def bosun_task(task_id: str) -> None:  # the name every replica registers: a rolling upgrade keeps it
            engine._running += 1
            try:
                await run(task_id)
            finally:
                engine._running -= 1

        await self.docket.__aenter__()
        for redis in (self.docket, getattr(self.docket, "strike_list", None)):  # each has a cluster client on a Cluster
            cluster = getattr(getattr(redis, "_redis", None), "cluster_client", None)
            if cluster is not None:
                mend_keys(cluster)
            mend_retry(redis)  # a dead pooled connection costs a reconnect, not a run delayed by its lease
        self.docket.register(bosun_task)
        self._function = bosun_task
        self._worker = Worker(self.docket, concurrency=self.concurrency, redelivery_timeout=self.redelivery,
                              reconnection_delay=timedelta(seconds=1))
        await self._worker.__aenter__()
        self._working = asyncio.get_running_loop().create_task(self._worker.run_forever())

    @staticmethod
    def _key(task_id: str, round_number: int) -> str:
        return f"{task_id}:{round_number}"

    async def submit(self, task_id: str, round_number: int) -> None:
        await self.docket.add(self._function, key=self._key(task_id, round_number))(task_id)

    async def cancel(self, task_id: str, round_number: int) -> None:
        await self.docket.cancel(self._key(task_id, round_number))

    def depth(self) -> tuple[int, int]:
        return self._queued, self._running

    async def check(self) -> None:
        snapshot = await asyncio.wait_for(self.docket.snapshot(), 2.0)
        self._queued = max(0, snapshot.total_tasks - len(snapshot.running))

    async def close(self, grace: float) -> None:
        working = self._working
        if working is not None:
            working.cancel()  # the first cancel drains: runs under way may end ...
            try:
                await asyncio.wait_for(asyncio.shield(working), grace)
            except (TimeoutError, asyncio.CancelledError):
                working.cancel()  # ... the second stops them; another replica takes them up after their lease
                with contextlib.suppress(BaseException):
                    await working
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker.__aexit__(None, None, None)
        with contextlib.suppress(Exception):
            await self.docket.__aexit__(None, None, None)
