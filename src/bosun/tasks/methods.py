"""The `tasks/*` methods, each answering in the era of the request (one store, one engine underneath).

2026-07-28 (`io.modelcontextprotocol/tasks`): `tasks/get` (the detailed task: its input requests, result or
error), `tasks/update` (answers; an empty acknowledgement once they are recorded, so the next `tasks/get`
shows them), `tasks/cancel` (empty acknowledgement, for a finished task too). Every one needs the extension
declared on that request (-32021 before anything else). `tasks/result` and `tasks/list` are gone (-32601).

2025-11-25 (a session's `tasks` utility): `tasks/get` (the task), `tasks/result` (waits for the end; while
the task waits for input, asks the session's client on this request's stream and records the answers, as a
`tasks/update` would), `tasks/list` (the caller's own; none on a server that runs open, which cannot tell
callers apart), `tasks/cancel` (the cancelled task; -32602 when it had already ended).
`notifications/tasks/status` go out on the `tasks/result` stream as the status changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bosun.app.inputs import check_answer
from bosun.protocol.call import Call
from bosun.protocol.errors import INTERNAL_ERROR, McpError, bounded, invalid_params, method_not_found
from bosun.tasks.creating import LEGACY_VERSION, declares, extension_required
from bosun.tasks.record import CANCELLED, COMPLETED, FAILED, INPUT_REQUIRED, TaskRecord

RELATED_TASK = "io.modelcontextprotocol/related-task"
_WAIT_STEP = 0.1  # how often `tasks/result` reads the record while it waits (seconds)
_LIST_LIMIT = 100


class TaskMethods:
    def __init__(self, extension: Any) -> None:
        self.extension = extension

    def table(self) -> dict[str, Any]:
        return {"tasks/get": self.get, "tasks/update": self.update, "tasks/cancel": self.cancel,
                "tasks/result": self.result, "tasks/list": self.list}

    def _modern(self, call: Call) -> None:
        if not declares(call):
            raise extension_required()

    @staticmethod
    def _legacy(call: Call) -> None:
        if call.version != LEGACY_VERSION:
            raise method_not_found(call.method)  # tasks came with 2025-11-25; earlier revisions have none

    async def get(self, call: Call) -> dict[str, Any]:
        if call.modern:
            self._modern(call)
            record = await self.extension.find(call)
            self.extension.polled(call, record)
            return {"resultType": "complete", **record.detailed()}
        self._legacy(call)
        record = await self.extension.find(call)
        self.extension.polled(call, record)
        shown: dict[str, Any] = record.legacy_task()
        return shown

    async def update(self, call: Call) -> dict[str, Any]:
        if not call.modern:
            raise method_not_found(call.method)
        self._modern(call)
        record = await self.extension.find(call)
        responses = call.params.get("inputResponses")
        if type(responses) is not dict:
            raise invalid_params("params.inputResponses must be an object")
        await self.answer(record, responses)
        return {"resultType": "complete"}

    async def answer(self, record: TaskRecord, responses: dict[str, Any]) -> None:
        """Record the answers to outstanding requests (others are ignored, as the spec asks), and run the task again
        once the last one is in."""
        outstanding = record.requests
        answers = {key: check_answer(outstanding[key].get("method", ""), key, value)
                   for key, value in responses.items() if key in outstanding}
        if not answers:
            return
        round_number = await self.extension.store.answer(record.id, answers)
        if round_number:
            await self.extension.engine.submit(record.id, round_number)

    async def cancel(self, call: Call) -> dict[str, Any]:
        modern = call.modern
        if modern:
            self._modern(call)
        else:
            self._legacy(call)
        record = await self.extension.find(call)
        moved = await self.extension.store.finish(record.id, CANCELLED, None, "Cancelled by the client")
        if moved:
            self.extension.metrics.count(CANCELLED)
            if self.extension.auditor is not None:
                self.extension.auditor.record(call.principal, "tasks/cancel", record.tool, f"task:{record.id}", 0.0, call.id)
            with contextlib.suppress(Exception):  # the record says cancelled; the run reads it within `cancel_check_seconds`
                await self.extension.engine.cancel(record.id, record.rounds)
        elif not modern:
            raise invalid_params(f"Cannot cancel task: already in terminal status '{record.legacy_status()}'")
        if modern:
            return {"resultType": "complete"}
        current: TaskRecord = await self.extension.find(call)
        return current.legacy_task()

    async def list(self, call: Call) -> dict[str, Any]:
        if call.modern:
            raise method_not_found(call.method)  # removed by the 2026-07-28 extension
        self._legacy(call)
        if call.principal is None:
            # A server that runs open cannot tell one requestor from another: every caller's tasks would be listed to
            # every other, and on such a server a task id is the only thing that guards a task's result. So none are.
            return {"tasks": []}
        records = await self.extension.store.owned(call.principal.key, _LIST_LIMIT)
        return {"tasks": [record.legacy_task() for record in records]}

    async def result(self, call: Call) -> dict[str, Any]:
        if call.modern:
            raise method_not_found(call.method)  # removed by the 2026-07-28 extension
        self._legacy(call)
        record = await self.extension.find(call)
        related = {RELATED_TASK: {"taskId": record.id}}
        seen = record.legacy_status(), record.message
        while not record.terminal:
            if record.status == INPUT_REQUIRED and call.channel is not None and call.send is not None:
                answers = {}
                for key, request in record.requests.items():
                    params = {**(request.get("params") or {}), "_meta": related}
                    answers[key] = await call.channel.request(request["method"], params, call.send)
                await self.answer(record, answers)
            await asyncio.sleep(_WAIT_STEP)
            record = await self.extension.find(call)
            if (record.legacy_status(), record.message) != seen and call.send is not None:
                seen = record.legacy_status(), record.message
                await call.send({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": record.legacy_task()})
        if record.status == FAILED and record.outcome is not None:
            raise McpError(int(record.outcome.get("code", INTERNAL_ERROR)), bounded(str(record.outcome.get("message"))),
                           record.outcome.get("data"))
        if record.status == COMPLETED and record.outcome is not None:
            return {**record.outcome, "_meta": related}
        raise McpError(INTERNAL_ERROR, "The task was cancelled", {"taskId": record.id})
