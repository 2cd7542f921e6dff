"""`notifications/tasks` on a 2026-07-28 `subscriptions/listen` stream, for the task ids it lists.

A client lists `params.notifications.taskIds` on its listen request (which must declare the extension in its own
`_meta`, else -32021). The acknowledgement names the ids agreed to: the caller's own tasks that exist (the owner
rule of `TasksExtension.find`; any other id is left out silently, so a caller learns nothing of others' tasks).
Then each agreed task's current state is sent once, and again at each change (status, message, outstanding
input requests, `lastUpdatedAt`), as the complete `DetailedTask` that `tasks/get` would answer at that moment,
until the task ends (its terminal state is the last one sent) or its record expires.

Why polling: a task changes wherever it runs (any replica, on docket) and the store has no change feed of its
own, while a listen stream lives on one replica. So while at least one stream here watches a task, one loop
reads the watched records every `WATCH_SECONDS` (one read per task, however many streams watch it), and stops
when none is watched. The transports know none of this: they see a `ListenFeed` (bosun/app/extensions.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bosun.app.extensions import Notify
from bosun.protocol.call import Call
from bosun.protocol.errors import INTERNAL_ERROR, McpError, invalid_params
from bosun.tasks.creating import declares, extension_required
from bosun.tasks.record import TaskRecord

log = logging.getLogger("bosun.tasks")

TASKS_NOTIFICATION = "notifications/tasks"
WATCH_SECONDS = 0.25  # how often watched records are read: the most a notification lags its change
MAX_IDS = 100  # task ids one stream may watch; the rest are not agreed to (the acknowledgement says which are)
_MAX_ID_CHARS = 200  # as `TasksExtension.find`


def _mark(record: TaskRecord) -> tuple[Any, ...]:
    """What a notification reports changing: a record with the same mark was already sent."""
    return record.status, record.message, tuple(sorted(record.requests)), record.updated


class TaskFeed:
    """One listen stream's tasks: what it was last sent of each, while the task is still watched."""

    __slots__ = ("listening", "agreed", "watched", "_first", "_notify")

    def __init__(self, listening: TaskListening, records: list[TaskRecord]) -> None:
        self.listening = listening
        self.agreed: dict[str, Any] = {"taskIds": [record.id for record in records]}
        self.watched: dict[str, tuple[Any, ...]] = {}  # task id -> mark last sent; a task leaves once it has ended
        self._first = records  # read when the request was checked: sent right after the acknowledgement
        self._notify: Notify | None = None

    def start(self, notify: Notify) -> None:
        self._notify = notify
        first, self._first = self._first, []
        for record in first:
            self.see(record.id, record)
        if self.watched:
            self.listening.add(self)

    def see(self, task_id: str, record: TaskRecord | None) -> None:
        """The record as just read (None: expired): send it if it changed; stop watching an ended task."""
        if record is None:
            self.watched.pop(task_id, None)
        else:
            mark = _mark(record)
            if self.watched.get(task_id) != mark and self._notify is not None:
                self._notify(TASKS_NOTIFICATION, record.detailed())
            if record.terminal:
                self.watched.pop(task_id, None)
            else:
                self.watched[task_id] = mark
        if not self.watched:
            self.listening.discard(self)

    def close(self) -> None:
        self._notify = None
        self.watched.clear()
        self.listening.discard(self)


class TaskListening:
    """The tasks extension's `listen` hook and the one loop that reads what this replica's streams watch."""

    def __init__(self, extension: Any, interval: float = WATCH_SECONDS) -> None:
        self.extension = extension  # its `store` is read at each use: `bind` replaces it (Redis)
        self.interval = interval
        self._feeds: set[TaskFeed] = set()
        self._loop: asyncio.Task[None] | None = None
        self._failing = False

    async def open(self, call: Call, wanted: dict[str, Any]) -> TaskFeed | None:
        """The `ListenHook`: None when the request lists no `taskIds`."""
        if "taskIds" not in wanted:
            return None
        if not declares(call):
            raise extension_required()
        raw = wanted["taskIds"]
        if type(raw) is not list:
            raise invalid_params("notifications.taskIds must be an array of task id strings", http_status=400)
        ids = list(dict.fromkeys(item for item in raw if type(item) is str and 0 < len(item) <= _MAX_ID_CHARS))
        ids = ids[:MAX_IDS]
        try:
            found = await asyncio.gather(*(self.extension.store.get(task_id) for task_id in ids))
        except Exception as failure:
            raise McpError(INTERNAL_ERROR, "The task store is unavailable; retry shortly", http_status=503) from failure
        owner = call.principal.key if call.principal is not None else ""
        return TaskFeed(self, [record for record in found if record is not None and record.owner == owner])

    def add(self, feed: TaskFeed) -> None:
        self._feeds.add(feed)
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._watch())

    def discard(self, feed: TaskFeed) -> None:
        self._feeds.discard(feed)  # the loop ends by itself at its next turn when no feed is left

    async def _watch(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                if not self._feeds:
                    return  # no await since the check: a feed added from now on starts a new loop
                try:
                    await self._turn()
                except Exception:  # a bug here must not end the notifications of every stream for good
                    log.exception("notifications/tasks: a turn of the task watch failed")
        finally:
            self._loop = None

    async def _turn(self) -> None:
        """One read of every watched task (once, however many streams watch it), handed to each feed."""
        ids = list({task_id for feed in self._feeds for task_id in feed.watched})
        read = await asyncio.gather(*(self.extension.store.get(task_id) for task_id in ids), return_exceptions=True)
        records = {task_id: record for task_id, record in zip(ids, read, strict=True)
                   if not isinstance(record, BaseException)}
        self._report(len(records) < len(ids), next((r for r in read if isinstance(r, BaseException)), None))
        for feed in list(self._feeds):
            for task_id in list(feed.watched):
                if task_id in records:
                    feed.see(task_id, records[task_id])

    def _report(self, failing: bool, failure: BaseException | None) -> None:
        """Logs when reading the watched tasks starts failing and when it recovers, not at every turn."""
        if failing and not self._failing:
            log.warning("cannot read watched tasks for notifications/tasks; retrying every %.2fs: %r", self.interval,
                        failure)
        elif self._failing and not failing:
            log.info("reading watched tasks for notifications/tasks again")
        self._failing = failing
