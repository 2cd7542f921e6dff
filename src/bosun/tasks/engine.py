"""`TaskEngine`: what runs tasks (`LocalEngine`: this process; `docket_engine.DocketEngine`: any replica, via Redis).

An engine knows a task only by its id and round (a task runs once, then once more per completed set of
answers): the record (bosun.tasks.record) holds everything else. `run` is the runner's entry point; an
engine calls it at least once per submitted round, and more than once if a replica dies mid-run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

Run = Callable[[str], Awaitable[None]]


class TaskEngine(Protocol):
    async def start(self, run: Run) -> None:
        """Begin taking work: from now on submitted rounds reach `run`."""

    async def submit(self, task_id: str, round_number: int) -> None:
        """Durably queue one run of the task (with Redis: once this returns, a replica will run it)."""

    async def cancel(self, task_id: str, round_number: int) -> None:
        """Best effort: stop the run if one is under way anywhere (the record's status is what is final)."""

    def depth(self) -> tuple[int, int]:
        """(queued, running) on this replica, for the metrics."""
        ...

    async def check(self) -> None:
        """Raises when the engine cannot take work (readiness)."""

    async def close(self, grace: float) -> None:
        """Stop taking work; let runs under way end for up to `grace` seconds, then cancel them."""


class LocalEngine:
    """Tasks as asyncio tasks of this process, at most `concurrency` at once. Lost when the process ends."""

    def __init__(self, concurrency: int = 16) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._run: Run | None = None
        self._queued = 0
        self._running = 0

    async def start(self, run: Run) -> None:
        self._run = run

    async def submit(self, task_id: str, round_number: int) -> None:
        if self._run is None:
            raise RuntimeError("the task engine has not started")
        task = asyncio.get_running_loop().create_task(self._one(self._run, task_id))
        self._runs[task_id] = task
        task.add_done_callback(lambda done: self._runs.pop(task_id, None) if self._runs.get(task_id) is done else None)

    async def _one(self, run: Run, task_id: str) -> None:
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        self._running += 1
        try:
            await run(task_id)
        finally:
            self._running -= 1
            self._slots.release()

    async def cancel(self, task_id: str, round_number: int) -> None:
        task = self._runs.get(task_id)
        if task is not None:
            task.cancel()

    def depth(self) -> tuple[int, int]:
        return self._queued, self._running

    async def check(self) -> None:
        return None

    async def close(self, grace: float) -> None:
        runs = list(self._runs.values())
        if runs:
            await asyncio.wait(runs, timeout=grace)
        for task in runs:
            task.cancel()
        for task in runs:
            with contextlib.suppress(BaseException):
                await task
