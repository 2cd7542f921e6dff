"""`Principal`: who is calling, as the security layer established it.

It lives down here, beside `Call`, because every layer needs to read it (the
application through `ctx.auth`, the protocol to bind sessions, sealed state and
cached results to it) while only the security layer creates it. It holds what
the credential said about the caller, never the credential itself: no layer
below security can pass the caller's token on to another service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    `key` is the stable identity things are bound to (sessions, `requestState`,
    cached tool results, rate-limit buckets): issuer and subject for tokens, the
    key's name for API keys. `method` says how the caller proved it: "jwt",
    "introspection" or "api_key".
    """

    subject: str
    issuer: str | None
    client_id: str | None
    scopes: frozenset[str]
    method: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    expires_at: float | None = None
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", f"{self.issuer or self.method}#{self.subject}")

    def has_scopes(self, needed: frozenset[str]) -> bool:
        return needed <= self.scopes
