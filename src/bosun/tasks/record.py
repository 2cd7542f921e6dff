"""`TaskRecord`: the MCP-facing state of one task, which Bosun keeps itself, and how each era shows it.

The engine that runs a task (docket, or the process) knows only its id. Everything a client can ask
about a task lives here: who owns it, the tool and the arguments it was created with (for its whole
life: a task that asks for input and runs again gets the same arguments, never `{}`), its status and
message, the questions it is waiting on and the answers it has, and its result or error. Terminal
statuses never change once reached: every store makes the move to one compare-and-set, since an
engine delivers at least once and a cancel may race the end of the work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bosun.protocol.principal import Principal

WORKING = "working"
INPUT_REQUIRED = "input_required"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
STATUSES = (WORKING, INPUT_REQUIRED, COMPLETED, FAILED, CANCELLED)


def now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class TaskRecord:
    id: str
    owner: str  # the principal's key; "" on a server that runs open
    tool: str
    arguments: dict[str, Any]
    version: str  # the protocol revision of the request that created it
    capabilities: dict[str, Any]  # what that request declared: which questions the task may ask
    ttl_ms: int
    poll_ms: int
    created: int = field(default_factory=now_ms)
    updated: int = 0
    status: str = WORKING
    message: str | None = None
    principal: dict[str, Any] | None = None  # who created it, for `ctx.auth` inside the task (never a credential)
    requests: dict[str, Any] = field(default_factory=dict)  # outstanding input requests, by key
    responses: dict[str, Any] = field(default_factory=dict)  # every answer given, by key, for the task's life
    outcome: dict[str, Any] | None = None  # the result (completed) or the JSON-RPC error (failed)
    runs: int = 0  # times a run began
    rounds: int = 1  # runs that were asked for: one, plus one per completed set of answers

    def __post_init__(self) -> None:
        if not self.updated:
            self.updated = self.created

    @property
    def expires(self) -> int:
        return self.created + self.ttl_ms

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    # The 2026-07-28 extension's shapes.
    def task(self) -> dict[str, Any]:
        """The `Task` fields (what a `CreateTaskResult` carries besides `resultType`)."""
        shown: dict[str, Any] = {"taskId": self.id, "status": self.status, "createdAt": _iso(self.created),
                                 "lastUpdatedAt": _iso(self.updated), "ttlMs": self.ttl_ms, "pollIntervalMs": self.poll_ms}
        if self.message:
            shown["statusMessage"] = self.message
        return shown

    def detailed(self) -> dict[str, Any]:
        """`DetailedTask`: the task, with its outstanding input requests, its result or its error."""
        shown = self.task()
        if self.status == INPUT_REQUIRED:
            shown["inputRequests"] = dict(self.requests)
        elif self.status == COMPLETED and self.outcome is not None:
            shown["result"] = {**self.outcome, "resultType": "complete"}
        elif self.status == FAILED and self.outcome is not None:
            shown["error"] = self.outcome
        return shown

    # The 2025-11-25 utility's shapes.
    def legacy_status(self) -> str:
        """2025-11-25 says `failed` for a tool result with `isError` too (2026-07-28 says `completed`)."""
        if self.status == COMPLETED and self.outcome is not None and self.outcome.get("isError"):
            return FAILED
        return self.status

    def legacy_task(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"taskId": self.id, "status": self.legacy_status(), "createdAt": _iso(self.created),
                                 "lastUpdatedAt": _iso(self.updated), "ttl": self.ttl_ms, "pollInterval": self.poll_ms}
        if self.message:
            shown["statusMessage"] = self.message
        return shown


def principal_fields(principal: Principal | None) -> dict[str, Any] | None:
    """What the record keeps of its creator: the identity and scopes, never the credential."""
    if principal is None:
        return None
    return {"subject": principal.subject, "issuer": principal.issuer, "client_id": principal.client_id,
            "scopes": sorted(principal.scopes), "method": principal.method, "claims": dict(principal.claims),
            "key": principal.key}


def principal_from(fields: dict[str, Any] | None) -> Principal | None:
    if not fields:
        return None
    return Principal(fields.get("subject"), fields.get("issuer"), fields.get("client_id"), frozenset(fields.get("scopes", ())),
                     str(fields.get("method", "")), fields.get("claims") or {}, key=str(fields.get("key", "")))
