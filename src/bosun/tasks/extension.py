"""The tasks extension: `io.modelcontextprotocol/tasks` (2026-07-28) and the 2025-11-25 `tasks` utility, one engine.

Reaches the server through the extension seam (bosun/app/extensions.py) only: it declares the
extension, adds the `tasks/*` methods (`methods`: both eras, each answering in its own), and in `bind`
puts `TaskCalls` (bosun/tasks/creating.py) around the core `tools/call` and adds `execution.taskSupport`
to 2025-11-25 tool lists. Its store and engine are chosen there too: with `REDIS_URL`, records in Redis
and runs on docket (any replica runs, answers and cancels any task); without, both in this process.
`Server.tool(task=...)` (bosun/tasking.py) creates it, and adds its start, stop and readiness check.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from bosun.app.extensions import Method
from bosun.app.handlers import Handlers
from bosun.config import ConfigError
from bosun.ops.logs import Throttled
from bosun.protocol.call import Call
from bosun.protocol.errors import RATE_LIMITED, McpError, invalid_params
from bosun.tasks.creating import EXTENSION, LEGACY_VERSION, TaskCalls
from bosun.tasks.engine import LocalEngine, TaskEngine
from bosun.tasks.listening import TaskFeed, TaskListening
from bosun.tasks.memory import MemoryTaskStore
from bosun.tasks.methods import TaskMethods
from bosun.tasks.metrics import TaskMetrics
from bosun.tasks.record import TaskRecord
from bosun.tasks.runner import TaskPolicy, TaskRunner
from bosun.tasks.settings import TaskSettings
from bosun.tasks.store import TaskStore

_POLL_SLACK = 0.5  # a poll may come this fraction of `pollIntervalMs` early before it is refused (when enforced)
_STORE_FAILURES = (RedisError, OSError, TimeoutError)  # Redis refused, timed out, or erred: the task store is unavailable
log = logging.getLogger("bosun.tasks")
_outage = Throttled(log, 30.0)


def unavailable(failure: BaseException) -> McpError:
    """The task store (Redis) failed: a retryable 503, said in the log at most every 30 s, never its details to the
    client (a connection error can name hosts)."""
    _outage.warning("task store unavailable: %s: %s", type(failure).__name__, failure)
    return McpError(-32603, "The task store is unavailable; retry shortly", http_status=503)


def guarded(handler: Method) -> Method:
    """`handler`, with a failure of the task store answered 503 (retryable) rather than a generic internal error."""

    async def guarded_handler(call: Call) -> dict[str, Any]:
        try:
            return await handler(call)
        except McpError:
            raise
        except _STORE_FAILURES as failure:
            raise unavailable(failure) from None

    return guarded_handler


class TasksExtension:
    name = EXTENSION

    def __init__(self) -> None:
        self.policies: dict[str, TaskPolicy] = {}
        self.settings_ = TaskSettings()
        self.store: TaskStore = MemoryTaskStore()
        self.engine: TaskEngine = LocalEngine()
        self.metrics = TaskMetrics(lambda: self.engine.depth())
        self.runner: TaskRunner | None = None
        self.auditor: Any = None
        self._polled: dict[tuple[str, str], float] = {}
        self.listening = TaskListening(self)

    def support(self, tool: str, policy: TaskPolicy) -> None:
        if policy.mode not in ("optional", "required"):
            raise ValueError(f"tool {tool}: task must be 'optional' or 'required', not {policy.mode!r}")
        self.policies[tool] = policy

    def _support(self, tool: Any) -> str:
        """A tool's 2025-11-25 `execution.taskSupport`."""
        policy = self.policies.get(tool) if type(tool) is str else None
        return policy.mode if policy is not None else "forbidden"

    # The extension seam.
    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> dict[str, Any]:
        return {method: guarded(handler) for method, handler in TaskMethods(self).table().items()}

    def bind(self, handlers: Handlers) -> None:
        self.settings_ = TaskSettings.from_env()
        app = handlers.app
        redis_url = getattr(app, "redis_url", "") or ""
        if redis_url:
            from bosun.tasks.docket_engine import DocketEngine
            from bosun.tasks.redis_store import RedisTaskStore

            namespace = f"bosun:{getattr(app, 'namespace', '') or 'server'}"
            self.store = RedisTaskStore(redis_url, namespace)
            self.engine = DocketEngine(redis_url, f"{namespace}:tasks", self.settings_.concurrency,
                                       self.settings_.redelivery_seconds)
        elif getattr(app, "workers", 1) > 1:
            raise ConfigError("task tools with --workers/BOSUN_WORKERS above 1 need REDIS_URL: without Redis each worker "
                              "keeps its own tasks, and a poll that reaches another worker would not find its task")
        else:
            self.engine = LocalEngine(self.settings_.concurrency)
        self.auditor = handlers.auditor
        self.runner = TaskRunner(self.store, handlers.registry, self.policies, self.settings_, self.metrics, app,
                                 handlers.auditor, handlers.error_details, handlers.strict_arguments)
        for table in (handlers.modern, handlers.legacy):
            table["tools/call"] = TaskCalls(self, table["tools/call"])
        listing = handlers.legacy["tools/list"]

        async def list_tools(call: Call) -> dict[str, Any]:
            result = await listing(call)
            if call.version == LEGACY_VERSION:  # copies: the listed dicts are the registry's own definitions
                result = {**result, "tools": [
                    {**tool, "execution": {"taskSupport": self._support(tool.get("name"))}}
                    for tool in result.get("tools", ())]}
            return result

        handlers.legacy["tools/list"] = list_tools
        legacy_tasks: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        handlers.session_capabilities[LEGACY_VERSION] = {**handlers.capabilities, "tasks": legacy_tasks}
        if handlers.observer is not None:
            self.metrics.register()

    async def listen(self, call: Call, wanted: dict[str, Any]) -> TaskFeed | None:
        """`notifications/tasks` for the `taskIds` a `subscriptions/listen` stream lists (bosun/tasks/listening.py)."""
        result: TaskFeed | None = await self.listening.open(call, wanted)
        return result

    # Lifecycle (the server's start-up and shutdown hooks, and its readiness).
    async def start(self) -> None:
        if self.runner is not None:
            await self.engine.start(self.runner.run)

    async def stop(self) -> None:
        await self.engine.close(self.settings_.grace_seconds)
        await self.store.close()

    async def check(self) -> None:
        await self.store.ping()
        await self.engine.check()

    # What the methods share.
    async def create(self, record: TaskRecord, call: Call) -> None:
        """Kept (within the caps), then queued; a task that cannot be queued ends `failed` and the call fails 503."""
        settings = self.settings_
        started = time.perf_counter()
        try:
            await self.store.create(record, settings.per_principal, settings.total)
        except McpError:
            raise
        except _STORE_FAILURES as failure:
            raise unavailable(failure) from None
        try:
            await self.engine.submit(record.id, record.rounds)
        except Exception as failure:
            with contextlib.suppress(Exception):  # the store may be down too: then the record expires at its TTL
                await self.store.finish(record.id, "failed", {"code": -32603, "message": "The task could not be queued"})
            raise McpError(-32603, "The task engine is unavailable; retry shortly", http_status=503) from failure
        self.metrics.count("created")
        if self.auditor is not None:
            self.auditor.record(call.principal, "tasks/create", record.tool, f"task:{record.id}",
                                time.perf_counter() - started, call.id, record.arguments)

    async def find(self, call: Call) -> TaskRecord:
        """The caller's task named by `params.taskId`; -32602 for one that is unknown, expired or someone else's
        (the same answer for all three: a caller learns nothing of others' tasks)."""
        task_id = call.params.get("taskId")
        if type(task_id) is not str or not task_id or len(task_id) > 200:
            raise invalid_params("params.taskId must be a task id string")
        record = await self.store.get(task_id)
        owner = call.principal.key if call.principal is not None else ""
        if record is None or record.owner != owner:
            raise invalid_params("Task not found")
        return record

    def polled(self, call: Call, record: TaskRecord) -> None:
        """With `BOSUN_TASKS_ENFORCE_POLL_INTERVAL`: a poll well before `pollIntervalMs` is refused (-32029, counted)."""
        if not self.settings_.enforce_poll:
            return
        now = time.monotonic()
        key = (record.id, record.owner)
        last = self._polled.get(key)
        if last is not None and now - last < record.poll_ms / 1000 * _POLL_SLACK:
            self.metrics.polls_refused += 1
            retry = round(record.poll_ms / 1000, 3)
            raise McpError(RATE_LIMITED, f"Polling faster than pollIntervalMs ({record.poll_ms} ms); retry after {retry}s",
                           {"retryAfter": retry}, http_status=429)
        if len(self._polled) > 100_000:
            self._polled.clear()
        self._polled[key] = now
