"""The part of `Server` that lets a tool run as a durable task (the extension: bosun/tasks, docs/tasks.md).

    @server.tool(task="optional")          # a task for clients that speak tasks, a plain call for the rest
    async def build_report(month: str, ctx: Context) -> Report:
        await ctx.report_status("collecting")
        ...

    @server.tool(task="required", safe_to_repeat=False)   # never run twice, even if its replica dies mid-run
    def migrate(table: str) -> str: ...

The tasks package is imported on first use: a server without task tools loads none of it (nor docket).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bosun.app.extensions import Extension
from bosun.ops.health import Check

if TYPE_CHECKING:
    from bosun.tasks.extension import TasksExtension

Hook = Any


class Tasking:
    """Needs the server's extension list, start-up and shutdown hooks, and readiness checks."""

    extensions: list[Extension]
    on_startup: list[Hook]
    on_shutdown: list[Hook]
    checks: list[Check]

    def _task_options(self, options: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """`options` without the task ones, and the tool's task policy (None: not a task tool)."""
        mode = options.pop("task", None)
        input_first = bool(options.pop("input_first", False))
        safe = options.pop("safe_to_repeat", True)
        if mode is None:
            if input_first or safe is not True:
                raise ValueError("input_first and safe_to_repeat apply to task tools: add task='optional' or 'required'")
            return options, None
        from bosun.tasks.runner import TaskPolicy

        return options, TaskPolicy(mode, input_first, bool(safe))

    def _register_task(self, tool: str, policy: Any) -> None:
        if policy is not None:
            self._tasks_extension().support(tool, policy)

    def _tasks_extension(self) -> TasksExtension:
        from bosun.tasks.extension import TasksExtension

        for extension in self.extensions:
            if isinstance(extension, TasksExtension):
                return extension
        created = TasksExtension()
        self.extensions.append(created)
        self.on_startup.append(created.start)
        self.on_shutdown.append(created.stop)
        # Reported by /ready, not failing it: while the task store is unreachable only new tasks fail (503, retryable),
        # and every replica shares that Redis, so failing readiness would take all of them out of the load balancer.
        self.checks.append(Check("tasks", created.check, critical=False))
        return created
