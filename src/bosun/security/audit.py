"""The audit trail: one structured record per tools/call, resources/read and prompts/get, and per refusal.

Records go to their own logger, `bosun.audit`, so operators can route them
apart from the application's logs (a separate handler, file or collector) or
switch them off with BOSUN_AUDIT=false. Each record says when, which request,
who (principal, client, issuer, how they authenticated), what (method and
target), how it went and how long it took. Arguments are included only with
BOSUN_AUDIT_ARGUMENTS=true, and then with values under secret-looking names
replaced and secret-looking strings redacted. Tokens are never recorded.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bosun.ops.logs import redact
from bosun.protocol.principal import Principal

audit_log = logging.getLogger("bosun.audit")
_SECRET_NAME = re.compile(r"(?i)pass(word|wd|phrase)?|secret|token|api[_-]?key|credential|authorization|private[_-]?key|cookie")
_MAX_DEPTH = 6
_MAX_STRING = 1024


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` safe to log: secret-named fields masked, strings redacted and trimmed, depth bounded."""
    if depth > _MAX_DEPTH:
        return "[...]"
    if isinstance(value, dict):
        return {str(key)[:128]: "[REDACTED]" if _SECRET_NAME.search(str(key)) else scrub(item, depth + 1)
                for key, item in list(value.items())[:64]}
    if isinstance(value, list):
        return [scrub(item, depth + 1) for item in value[:64]]
    if isinstance(value, str):
        return redact(value[:_MAX_STRING])
    return value


class Audit:
    """Writes audit records; `enabled` False makes every call a no-op."""

    __slots__ = ("enabled", "arguments")

    def __init__(self, enabled: bool = True, arguments: bool = False) -> None:
        self.enabled = enabled
        self.arguments = arguments
        if enabled and audit_log.level == logging.NOTSET:
            audit_log.setLevel(logging.INFO)  # the trail does not depend on LOG_LEVEL; set the logger's level to change it

    def record(self, principal: Principal | None, method: str, target: str | None, outcome: str, seconds: float,
               request_id: Any = None, arguments: Any = None, peer: str | None = None) -> None:
        if not self.enabled:
            return
        entry: dict[str, Any] = {
            "event": "mcp.audit",
            "principal": principal.key if principal is not None else None,
            "client_id": principal.client_id if principal is not None else None,
            "issuer": principal.issuer if principal is not None else None,
            "auth": principal.method if principal is not None else None,
            "method": method,
            "target": target if target is None or len(target) <= 512 else target[:512],
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 3),
            "jsonrpc_id": request_id if type(request_id) in (int, str) else None,
        }
        if peer is not None:
            entry["peer"] = peer
        if self.arguments and arguments is not None:
            entry["arguments"] = scrub(arguments)
        audit_log.info("audit %s %s %s", method, target or "-", outcome, extra={"audit": entry})
