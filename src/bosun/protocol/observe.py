"""The narrow seam through which the layers report what happened, for metrics and tracing.

Transport and application code hold an `Observer` or None; with None they skip
the call entirely, so observability costs nothing when it is off.
"""

from __future__ import annotations

from typing import Any, Protocol

from bosun.protocol.principal import Principal


class Observer(Protocol):
    def request(self, method: str, status: int, seconds: float) -> None: ...

    def error(self, code: int) -> None: ...

    def tool(self, name: str, outcome: str, seconds: float) -> None: ...

    def inflight(self, delta: int) -> None: ...

    def stream(self, delta: int) -> None: ...

    def session(self, delta: int) -> None: ...

    def session_evicted(self) -> None:
        """A session dropped to make room (a cap was reached), not because it idled out or was deleted."""
        ...

    def check(self, name: str, critical: bool, ok: bool) -> None: ...

    def set_ready(self, ok: bool) -> None: ...

    def refusal(self, reason: str, status: int) -> None:
        """A request the security layer turned away (missing_token, invalid_token, insufficient_scope, ...)."""
        ...

    def security_event(self, name: str) -> None:
        """Something the security layer did that operators watch (jwks_fetched, ratelimit_fail_open, ...)."""
        ...


class Auditor(Protocol):
    """Where handlers report each tools/call, resources/read and prompts/get for the audit trail."""

    def record(self, principal: Principal | None, method: str, target: str | None, outcome: str, seconds: float,
               request_id: Any = None, arguments: Any = None, peer: str | None = None, via: str | None = None) -> None: ...
