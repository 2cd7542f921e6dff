"""The narrow seam through which the layers report what happened, for metrics and tracing.

Transport and application code hold an `Observer` or None; with None they skip
the call entirely, so observability costs nothing when it is off.
"""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    def request(self, method: str, status: int, seconds: float) -> None: ...

    def error(self, code: int) -> None: ...

    def tool(self, name: str, outcome: str, seconds: float) -> None: ...

    def inflight(self, delta: int) -> None: ...

    def stream(self, delta: int) -> None: ...

    def session(self, delta: int) -> None: ...

    def check(self, name: str, critical: bool, ok: bool) -> None: ...

    def set_ready(self, ok: bool) -> None: ...
