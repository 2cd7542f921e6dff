"""`TaskRunner`: one run of a task, on whichever replica the engine gave it to.

A run reads the record, calls the tool with the arguments the task was created with and every answer it
has been given, and ends in one of three ways: a terminal status (compare-and-set: a cancel that came
first wins), `input_required` (the function asked a question it has no answer for; `tasks/update` or the
2025 session brings the answers and the task runs again from the top, as a multi round-trip call does),
or handed back (the replica is shutting down: the engine redelivers it).

A cancel reaches the run two ways: the engine's own signal (docket's pub/sub, or this process), and the
run reading its record every `cancel_check_seconds`, so a lost signal costs at most that. Either way the
tool's coroutine gets `CancelledError` where it awaits; a plain `def` tool, in its worker thread, sees
`ctx.task_cancelled` turn True.

Delivery is at least once: a run that begins more often than it was asked for was redelivered (its
replica died mid-run). A tool registered `safe_to_repeat=False` then ends `failed` instead of running
again, and any tool that took its replica down `max_redeliveries` times ends `failed` too. A run handed
back by a replica shutting down cleanly is uncounted again (a store that outlives the process offers
`release`), unless its tool is not safe to repeat: without that, a long task met by a rolling restart of
more than `max_redeliveries` replicas ended `failed` though no replica had died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.exceptions import RedisError

from bosun.app.context import Context
from bosun.app.inputs import InputRequired, required_capabilities
from bosun.app.registry import Registry
from bosun.protocol.call import Call
from bosun.protocol.errors import INTERNAL_ERROR, McpError, missing_capability
from bosun.protocol.observe import Auditor
from bosun.tasks.metrics import TaskMetrics
from bosun.tasks.record import CANCELLED, COMPLETED, FAILED, INPUT_REQUIRED, TaskRecord, now_ms, principal_from
from bosun.tasks.settings import TaskSettings
from bosun.tasks.store import TaskStore

log = logging.getLogger("bosun.tasks")
_CANCEL_READ_SECONDS = 2.0  # how long a cancelled run may take to read its record, to tell a cancel from a shutdown
_STEADY_SECONDS = 30.0  # how long a run keeps trying a step of its record while the store fails
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    """How a tool runs as a task: `mode` optional or required; `input_first`: questions asked on the request
    (multi round-trip) until the function calls `ctx.detach()`; `safe_to_repeat`: may run again after its
    replica died mid-run."""

    mode: str
    input_first: bool = False
    safe_to_repeat: bool = True


def error_of(failure: McpError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": failure.code, "message": failure.message}
    if failure.data is not None:
        error["data"] = failure.data
    return error


async def steadily(step: Callable[[], Awaitable[T]]) -> T:
    """A step of the run's record, tried again while the store fails (a Redis failover, a blip): given up after about
    `_STEADY_SECONDS`, when the error reaches the engine. Lost, a step would leave the task `working` until its TTL
    with nothing running it (the result of a finished run, say)."""
    delay = 0.25
    deadline = time.monotonic() + _STEADY_SECONDS
    while True:
        try:
            return await step()
        except (RedisError, OSError, TimeoutError):
            if time.monotonic() + delay > deadline:
                raise
            log.warning("task store unavailable; trying the step again in %.2gs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)


class RunningTask:
    """What `Context.report_status`, `detach` and `task_cancelled` reach inside a run (`Call.task`)."""

    __slots__ = ("task_id", "store", "cancelled")

    def __init__(self, task_id: str, store: TaskStore) -> None:
        self.task_id = task_id
        self.store = store
        self.cancelled = False

    async def report_status(self, message: str) -> None:
        await self.store.note(self.task_id, str(message)[:1000])

    async def detach(self, answers: dict[str, Any] | None = None) -> None:
        return None  # already a task


class TaskRunner:
    def __init__(self, store: TaskStore, registry: Registry, policies: dict[str, TaskPolicy], settings: TaskSettings,
                 metrics: TaskMetrics, app: Any, auditor: Auditor | None, details: bool, strict: bool) -> None:
        self.store = store
        self.registry = registry
        self.policies = policies
        self.settings = settings
        self.metrics = metrics
        self.app = app
        self.auditor = auditor
        self.details = details
        self.strict = strict

    async def run(self, task_id: str) -> None:
        record = await steadily(lambda: self.store.begin(task_id))
        if record is None:
            return  # ended, cancelled, waiting for input, or past its TTL: nothing to run
        started = time.perf_counter()
        self.metrics.queued.observe(max(0.0, (now_ms() - record.updated) / 1000))
        if record.runs > record.rounds:  # a run began before this one and never ended: its replica died
            self.metrics.redeliveries += 1
            policy = self.policies.get(record.tool)
            if policy is not None and not policy.safe_to_repeat:
                await self.end(record, FAILED, {"code": INTERNAL_ERROR, "message": "The task was interrupted (its replica "
                               "stopped) and its tool is not safe to repeat, so it was not run again"}, started)
                return
            if record.runs - record.rounds > self.settings.max_redeliveries:
                await self.end(record, FAILED, {"code": INTERNAL_ERROR, "message": f"The task's run was interrupted "
                               f"{record.runs - record.rounds} times (its replica stopped each time); given up"}, started)
                return
        tool = self.registry.tools.get(record.tool)
        if tool is None:
            await self.end(record, FAILED, {"code": INTERNAL_ERROR, "message": f"Tool {record.tool} is no longer served"},
                           started)
            return
        control = RunningTask(task_id, self.store)
        call = Call(task_id, "tools/call", {"name": record.tool, "arguments": record.arguments}, record.version, True,
                    record.capabilities, None)
        call.principal = principal_from(record.principal)
        call.task = control
        ctx = Context(call, dict(record.responses), app=self.app) if tool.signature.context_param is not None else None
        running = asyncio.current_task()
        watch = asyncio.get_running_loop().create_task(self._watch(control, running))
        try:
            result = await tool.call(dict(record.arguments), ctx, self.details, self.strict)
        except InputRequired as need:
            await self._needs_input(record, need, started)
            return
        except McpError as failure:
            await self.end(record, FAILED, error_of(failure), started)
            return
        except asyncio.CancelledError:
            if not control.cancelled and await self._cancelled(task_id):
                control.cancelled = True  # the engine's signal came first: a `def` tool's thread sees it now
            if control.cancelled:
                self.metrics.running.observe(time.perf_counter() - started)
                return  # the record says cancelled already; the engine's run ends quietly
            await self._hand_back(record)
            raise  # shutting down: the engine hands the run back for another replica
        finally:
            watch.cancel()
        await self.end(record, COMPLETED, result, started)

    async def _needs_input(self, record: TaskRecord, need: InputRequired, started: float) -> None:
        declared = record.capabilities
        missing = [capability for capability in required_capabilities(need.requests) if capability not in declared]
        if missing:
            await self.end(record, FAILED, error_of(missing_capability(*missing)), started)
            return
        self.metrics.running.observe(time.perf_counter() - started)
        if await steadily(lambda: self.store.ask(record.id, need.requests)):
            self.metrics.count(INPUT_REQUIRED)
            return
        current = await self.store.get(record.id)
        if current is not None and not current.terminal:  # asked again what it was already told: it would loop
            await self.end(record, FAILED, {"code": INTERNAL_ERROR, "message": "The tool asked again for input it was "
                           "given"}, started)

    async def end(self, record: TaskRecord, status: str, outcome: dict[str, Any] | None, started: float) -> None:
        """The terminal move (compare-and-set), counted and audited where it was made."""
        self.metrics.running.observe(time.perf_counter() - started)
        message = outcome.get("message") if status == FAILED and outcome is not None else None
        if await steadily(lambda: self.store.finish(record.id, status, outcome, message)):
            self.metrics.count(status)
            self.audit(record, status, time.perf_counter() - started)

    def audit(self, record: TaskRecord, outcome: str, seconds: float) -> None:
        if self.auditor is not None:
            self.auditor.record(principal_from(record.principal), "tasks/end", record.tool, outcome, seconds, record.id)

    async def _cancelled(self, task_id: str) -> bool:
        """Whether a `CancelledError` the run got is the task's cancel (the engine's signal, from whichever replica took
        the `tasks/cancel`) rather than this replica shutting down: the record says. Without this a plain `def` tool,
        whose thread no `CancelledError` reaches, never saw `ctx.task_cancelled` and ran to its end."""
        try:
            record = await asyncio.wait_for(self.store.get(task_id), _CANCEL_READ_SECONDS)
        except Exception:
            return False  # unknown: treated as a shutdown, so the run is handed back rather than lost
        return record is None or record.status == CANCELLED

    async def _hand_back(self, record: TaskRecord) -> None:
        """This replica stops cleanly mid-run: the run it began is not a crash, so it does not count towards
        `max_redeliveries` (the store's `release`). A tool not safe to repeat stays counted: it was stopped partway,
        and its next run must end `failed` rather than start it again."""
        policy = self.policies.get(record.tool)
        release = self.store.release
        if policy is not None and not policy.safe_to_repeat:
            return
        with contextlib.suppress(Exception):  # not released: counted as a crash, the safe side
            await asyncio.wait_for(release(record.id), _CANCEL_READ_SECONDS)

    async def _watch(self, control: RunningTask, running: asyncio.Task[Any] | None) -> None:
        """Read the record now and then: a cancel whose signal was lost still stops the run."""
        while True:
            await asyncio.sleep(self.settings.cancel_check_seconds)
            with contextlib.suppress(Exception):
                record = await self.store.get(control.task_id)
                if record is None or record.status == CANCELLED:
                    control.cancelled = True
                    if running is not None:
                        running.cancel()
                    return
