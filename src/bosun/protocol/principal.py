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

    `subject` is the user (or other resource owner) the credential names, and None when it names
    only a client, as a client-credentials token without `sub` does; `client_id` is the
    application that presented it. The two are different namespaces: a client called `alice`
    is not the user `alice`.

    `key` is the stable identity things are bound to (sessions, `requestState`, cached tool
    results, rate-limit buckets): `<issuer>#<subject>` for a token naming a subject (the issuer is
    the method, "jwt" or "introspection", when none is known), `client:<issuer>#<client_id>` for a
    token naming only a client, and the key's name for API keys. A subject key starts with the
    issuer (a URL, RFC 8414 section 2) or a method name, never with "client:", so no
    choice of `sub` can produce a client's key, nor `client_id` a subject's. `method` says how
    the caller proved it: "jwt", "introspection" or "api_key".
    """

    subject: str | None
    issuer: str | None
    client_id: str | None
    scopes: frozenset[str]
    method: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    expires_at: float | None = None
    key: str = ""

    def __post_init__(self) -> None:
        if self.key:
            return
        if self.subject:
            key = f"{self.issuer or self.method}#{self.subject}"
        elif self.client_id:
            key = f"client:{self.issuer or self.method}#{self.client_id}"
        else:
            raise ValueError("a principal names a subject or a client")
        object.__setattr__(self, "key", key)

    def has_scopes(self, needed: frozenset[str]) -> bool:
        return needed <= self.scopes
