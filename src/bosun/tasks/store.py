"""`TaskStore`: where task records live (`memory`: this process; `redis_store`: every replica).

Each method is one atomic step of a task's life, so two replicas (or a redelivered run and a
cancel) can never interleave inside one. Terminal statuses are final: `finish` is a
compare-and-set from any non-terminal status, and every other change is refused once one is set.
"""

from __future__ import annotations

from typing import Any, Protocol

from bosun.protocol.errors import McpError
from bosun.tasks.record import TaskRecord

TASK_LIMIT = -32603  # an internal error with a clear message: the spec has no code for "too many tasks"


class TaskLimitReached(McpError):
    """A principal (or the server) has as many unfinished tasks as it may."""

    def __init__(self, message: str) -> None:
        super().__init__(TASK_LIMIT, message, http_status=429)


class TaskStore(Protocol):
    async def create(self, record: TaskRecord, per_owner: int, total: int) -> None:
        """Keep `record` (durably: a `tasks/get` anywhere finds it once this returns), within the caps on unfinished
        tasks per owner and in all; `TaskLimitReached` at a cap."""
        ...

    async def get(self, task_id: str) -> TaskRecord | None:
        """The record, or None if unknown or past its TTL."""
        ...

    async def begin(self, task_id: str) -> TaskRecord | None:
        """A run starts: counts it and returns the record, or None when there is nothing to run (unknown,
        terminal, or waiting for input)."""
        ...

    async def ask(self, task_id: str, requests: dict[str, Any]) -> bool:
        """The run needs input: the task turns `input_required` with these requests (keys already answered are
        left out). False if it is no longer working (cancelled meanwhile)."""
        ...

    async def answer(self, task_id: str, responses: dict[str, Any]) -> int:
        """Answers for outstanding requests (others are ignored). Returns the new round when this completed the
        set (the task is `working` again and must be run), else 0."""
        ...

    async def note(self, task_id: str, message: str) -> None:
        """The status message, while the task is not terminal."""
        ...

    async def finish(self, task_id: str, status: str, outcome: dict[str, Any] | None, message: str | None = None) -> bool:
        """Compare-and-set to a terminal status: True if this call made the move, False if one was already set."""
        ...

    async def release(self, task_id: str) -> bool:
        """A run handed back at shutdown is not counted as one that died (`runs` less one while `working`), so a
        rolling restart never uses up a task's redeliveries. True if it was counted back."""
        ...

    async def owned(self, owner: str, limit: int) -> list[TaskRecord]:
        """The owner's tasks still kept, newest first (2025-11-25 `tasks/list`)."""
        ...

    async def ping(self) -> None:
        """Raises when the store cannot be reached (readiness)."""
        ...

    async def close(self) -> None: ...
