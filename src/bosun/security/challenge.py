"""Refusals: the HTTP status, the `WWW-Authenticate` challenge and the matching JSON-RPC error, built in one place.

* 401 (no token, or one that is malformed, invalid or expired):
  `Bearer resource_metadata="…", scope="…"`, plus `error="invalid_token"` when a token was sent.
* 403 (valid token, missing scope): `Bearer error="insufficient_scope", scope="…"` naming all
  the scopes the operation needs, in one challenge, so a client steps up once.
* 429 (over a rate limit): `Retry-After`.
* 503 (the authorization server that must vouch for a token is unreachable): `Retry-After`.

The JSON-RPC body carries the same facts (`data.error`, `data.scope`, `data.retryAfter`) for
clients that read bodies rather than headers. Descriptions say what is wrong with a credential,
never what the credential is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from bosun.protocol.errors import FORBIDDEN, INTERNAL_ERROR, RATE_LIMITED, UNAUTHORIZED, McpError, bounded
from bosun.security.options import SecurityOptions, metadata_url

RawHeaders = tuple[tuple[bytes, bytes], ...]


class Refusal(Exception):
    """A request the security layer turns away; `reason` is the bounded metric label."""

    def __init__(self, status: int, reason: str, error: McpError, headers: RawHeaders = ()) -> None:
        super().__init__(error.message)
        self.status = status
        self.reason = reason
        self.error = error
        self.headers = headers


def _quoted(value: str) -> str:
    return value.replace("\\", "").replace('"', "'")


def _scope_text(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scope for scope in scopes if scope != "offline_access"))


class Challenges:
    def __init__(self, options: SecurityOptions, default_scopes: Callable[[], Iterable[str]]) -> None:
        self.metadata = metadata_url(options.resource) if options.oauth and options.resource else None
        self.default_scopes = default_scopes

    def _challenge(self, **params: str) -> bytes:
        parts = []
        if "error" in params:
            parts.append(f'error="{_quoted(params.pop("error"))}"')
        if self.metadata is not None:
            parts.append(f'resource_metadata="{self.metadata}"')
        for name, value in params.items():
            if value:
                parts.append(f'{name}="{_quoted(value)}"')
        return ("Bearer " + ", ".join(parts)).encode("latin-1", "replace")

    def missing(self) -> Refusal:
        scope = _scope_text(self.default_scopes())
        data: dict[str, Any] = {"error": "invalid_request", "error_description": "No access token was sent"}
        if scope:
            data["scope"] = scope
        header = self._challenge(scope=scope) if self.metadata or scope else b'Bearer realm="mcp"'
        return Refusal(401, "missing_token", McpError(UNAUTHORIZED, "Unauthorized: send an access token as "
                                                      "'Authorization: Bearer <token>'", data),
                       ((b"www-authenticate", header),))

    def invalid(self, description: str) -> Refusal:
        scope = _scope_text(self.default_scopes())
        data: dict[str, Any] = {"error": "invalid_token", "error_description": description}
        if scope:
            data["scope"] = scope
        header = self._challenge(error="invalid_token", error_description=description, scope=scope)
        return Refusal(401, "invalid_token", McpError(UNAUTHORIZED, f"Unauthorized: {description}", data),
                       ((b"www-authenticate", header),))

    def insufficient(self, needed: Iterable[str], what: str) -> Refusal:
        scope = _scope_text(needed)
        description = f"{bounded(what)} needs scope {scope}"
        data = {"error": "insufficient_scope", "error_description": description, "scope": scope}
        header = self._challenge(error="insufficient_scope", scope=scope, error_description=description)
        return Refusal(403, "insufficient_scope", McpError(FORBIDDEN, f"Forbidden: {description}", data),
                       ((b"www-authenticate", header),))

    @staticmethod
    def rate_limited(wait: float) -> Refusal:
        seconds = max(1, math.ceil(wait))
        error = McpError(RATE_LIMITED, f"Too many requests: retry after {seconds} s", {"retryAfter": seconds})
        return Refusal(429, "rate_limited", error, ((b"retry-after", str(seconds).encode()),))

    @staticmethod
    def unavailable(description: str) -> Refusal:
        error = McpError(INTERNAL_ERROR, f"Service unavailable: {description}; retry shortly", {"retryAfter": 5})
        return Refusal(503, "verifier_unavailable", error, ((b"retry-after", b"5"),))
