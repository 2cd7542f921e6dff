"""Task records in this process: the embedded default (no Redis). Lost when the process ends, as documented."""

from __future__ import annotations

from typing import Any

from bosun.tasks.record import CANCELLED, INPUT_REQUIRED, TERMINAL, WORKING, TaskRecord, now_ms
from bosun.tasks.store import TaskLimitReached


class MemoryTaskStore:
    """Every step runs without an await, so each is atomic on the event loop."""

    def __init__(self) -> None:
        self._records: dict[str, TaskRecord] = {}

    def _live(self, task_id: str) -> TaskRecord | None:
        record = self._records.get(task_id)
        if record is not None and record.expires <= now_ms():
            del self._records[task_id]
            return None
        return record

    def _purge(self) -> None:
        now = now_ms()
        for task_id in [key for key, record in self._records.items() if record.expires <= now]:
            del self._records[task_id]

    async def create(self, record: TaskRecord, per_owner: int, total: int) -> None:
        self._purge()
        unfinished = [r for r in self._records.values() if r.status not in TERMINAL]
        if sum(1 for r in unfinished if r.owner == record.owner) >= per_owner:
            raise TaskLimitReached(f"Too many unfinished tasks for this caller (at most {per_owner}); retry when one ends")
        if len(unfinished) >= total:
            raise TaskLimitReached(f"Too many unfinished tasks on this server (at most {total}); retry later")
        self._records[record.id] = record

    async def get(self, task_id: str) -> TaskRecord | None:
        return self._live(task_id)

    async def begin(self, task_id: str) -> TaskRecord | None:
        record = self._live(task_id)
        if record is None or record.status != WORKING:
            return None
        record.runs += 1
        return record

    async def ask(self, task_id: str, requests: dict[str, Any]) -> bool:
        record = self._live(task_id)
        if record is None or record.status != WORKING:
            return False
        fresh = {key: request for key, request in requests.items() if key not in record.responses}
        if not fresh:
            return False
        record.requests.update(fresh)
        record.status, record.updated = INPUT_REQUIRED, now_ms()
        return True

    async def answer(self, task_id: str, responses: dict[str, Any]) -> int:
        record = self._live(task_id)
        if record is None or record.status != INPUT_REQUIRED:
            return 0
        for key, value in responses.items():
            if key in record.requests:
                del record.requests[key]
                record.responses[key] = value
        record.updated = now_ms()
        if record.requests:
            return 0
        record.status = WORKING
        record.rounds += 1
        return record.rounds

    async def note(self, task_id: str, message: str) -> None:
        record = self._live(task_id)
        if record is not None and record.status not in TERMINAL:
            record.message, record.updated = message, now_ms()

    async def finish(self, task_id: str, status: str, outcome: dict[str, Any] | None, message: str | None = None) -> bool:
        record = self._live(task_id)
        if record is None or record.status in TERMINAL:
            return False
        record.status, record.outcome, record.updated = status, outcome, now_ms()
        record.requests = {}
        if message is not None or status == CANCELLED:
            record.message = message
        return True

    async def release(self, task_id: str) -> bool:
        return False  # a run of this process is never redelivered: nothing to count back

    async def owned(self, owner: str, limit: int) -> list[TaskRecord]:
        self._purge()
        mine = [record for record in self._records.values() if record.owner == owner]
        return sorted(mine, key=lambda record: record.created, reverse=True)[:limit]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._records.clear()
