"""`tools/call` for task tools: run it now, or create a task and answer with its handle.

Which happens is decided per request (SEP-2663: the server decides, from what *this* request declared):

* 2026-07-28, the request declares `io.modelcontextprotocol/tasks`: a task (`CreateTaskResult`). A tool
  registered `input_first` first runs on the request until it calls `ctx.detach()`, so its questions are
  multi round-trip rounds of the request; the task then starts with those answers.
* 2026-07-28 without it: an optional tool runs now, as any tool; a required one is -32021, naming the
  extension.
* 2025-11-25 session with `params.task`: a task (`{"task": {...}}`). Without it: runs now (optional), or
  -32601 (required), as that revision says. Earlier revisions know no tasks: the call runs now.

The task is created (durably, within the caps) before the answer is sent, so `tasks/get` finds it on any
replica at once. Every other tool's call goes straight to the core handler: one dict lookup.
"""

from __future__ import annotations

import secrets
from typing import Any

from bosun.app.handlers import Handler
from bosun.app.inputs import Continued
from bosun.protocol.call import Call
from bosun.protocol.errors import METHOD_NOT_FOUND, MISSING_REQUIRED_CLIENT_CAPABILITY, McpError, invalid_params
from bosun.tasks.record import TaskRecord, principal_fields

EXTENSION = "io.modelcontextprotocol/tasks"
LEGACY_VERSION = "2025-11-25"


def declares(call: Call) -> bool:
    """This request's own `clientCapabilities` name the extension (never a session's, never a past request's)."""
    extensions = call.capabilities.get("extensions")
    return type(extensions) is dict and EXTENSION in extensions


def extension_required() -> McpError:
    return McpError(MISSING_REQUIRED_CLIENT_CAPABILITY, f"Missing required client capability: extension {EXTENSION}",
                    {"requiredCapabilities": {"extensions": {EXTENSION: {}}}}, http_status=400)


class Detached(Continued):
    """`ctx.detach()` on the request of an `input_first` tool: the rest runs as a task, with these answers.

    A `Continued` (a BaseException) so that nothing between the tool and this module (which turns a tool's exceptions
    into `isError` results) takes it for a failure, and the audit trail says `continued`."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__("detached")
        self.answers = answers


class _Detaching:
    """`Call.task` on the request of an `input_first` tool: `ctx.detach()` raises `Detached`."""

    cancelled = False

    async def report_status(self, message: str) -> None:
        return None

    async def detach(self, answers: dict[str, Any] | None = None) -> None:
        raise Detached(dict(answers or {}))


class TaskCalls:
    """The `tools/call` handler of a server with task tools, around the core one (`core`)."""

    def __init__(self, extension: Any, core: Handler) -> None:
        self.extension = extension
        self.core = core

    async def __call__(self, call: Call) -> dict[str, Any]:
        name = call.params.get("name")
        policy = self.extension.policies.get(name) if type(name) is str else None
        if policy is None or type(name) is not str:
            return await self.core(call)
        if call.modern:
            if not declares(call):
                if policy.mode == "required":
                    raise extension_required()
                return await self.core(call)
            answers: dict[str, Any] = {}
            if policy.input_first:
                call.task = _Detaching()
                try:
                    return await self.core(call)  # answered now, or a multi round-trip round, or ...
                except Detached as detached:  # ... the function detached: the rest is a task
                    answers = detached.answers
            record = await self.create(call, name, answers, None)
            return {"resultType": "task", **record.task()}
        requested = call.params.get("task")
        if call.version != LEGACY_VERSION or requested is None:
            if policy.mode == "required" and call.version == LEGACY_VERSION:
                raise McpError(METHOD_NOT_FOUND, f"Tool {name} must be called as a task (params.task)")
            return await self.core(call)
        if type(requested) is not dict:
            raise invalid_params("params.task must be an object")
        ttl = requested.get("ttl")
        if ttl is not None and (type(ttl) is not int or ttl <= 0):
            raise invalid_params("params.task.ttl must be a positive integer (milliseconds)")
        record = await self.create(call, name, {}, ttl)
        return {"task": record.legacy_task()}

    async def create(self, call: Call, tool: str, answers: dict[str, Any], ttl_ms: int | None) -> TaskRecord:
        extension = self.extension
        settings = extension.settings_
        arguments = call.params.get("arguments")
        if arguments is None:
            arguments = {}
        elif type(arguments) is not dict:
            raise invalid_params(f"Invalid arguments for tool {tool}: arguments must be an object")
        longest = int(settings.max_ttl_seconds * 1000)
        kept = min(ttl_ms, longest) if ttl_ms is not None else min(int(settings.ttl_seconds * 1000), longest)
        principal = call.principal
        capabilities = {key: value for key, value in call.capabilities.items() if key != "extensions"}
        record = TaskRecord(secrets.token_urlsafe(24), principal.key if principal is not None else "", tool, arguments,
                            call.version, capabilities, kept, int(settings.poll_seconds * 1000),
                            principal=principal_fields(principal), responses=answers)
        await extension.create(record, call)
        return record
