"""The token-verifier seam: one small interface, several kinds of credential behind it.

A verifier turns the credential a request presented into a `Principal`, or
raises `InvalidToken` (the caller gets 401 `invalid_token`) or
`VerifierUnavailable` (the authority that could tell is unreachable: 503 and a
retry, never a 401 that would send a client back to its authorization server for
nothing). Verifiers never block the event loop and, in the steady state, make no
network call per request: whatever they fetch, they cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bosun.protocol.principal import Principal


class InvalidToken(Exception):
    """The credential is missing, malformed, expired, forged or not for this server.

    The message is safe to show the client (it says what is wrong with the token,
    never what the token is).
    """


class VerifierUnavailable(Exception):
    """Verification needs an authorization server that cannot be reached right now."""


class TokenVerifier(Protocol):
    def accepts(self, token: str) -> bool:
        """Whether this verifier is the one to ask about `token` (cheap: a prefix or shape test)."""
        ...

    def remembered(self, token: str) -> Principal | None:
        """The principal for a token verified before and still valid, without awaiting anything; else None."""
        ...

    async def verify(self, token: str) -> Principal:
        """The principal `token` proves, or raise `InvalidToken` / `VerifierUnavailable`."""
        ...

    async def start(self) -> None:
        """Warm caches in the background (fetch keys) so the first request need not wait."""
        ...

    async def close(self) -> None: ...


class VerifierChain:
    """The verifiers a server trusts, in order: the first that accepts a token's shape judges it, and its
    refusal is final. Owns their lifecycle (and anything they share, closed by `on_close`)."""

    def __init__(self, verifiers: list[TokenVerifier], on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.verifiers = verifiers
        self._on_close = on_close

    def pick(self, token: str) -> TokenVerifier | None:
        for verifier in self.verifiers:
            if verifier.accepts(token):
                return verifier
        return None

    async def start(self) -> None:
        for verifier in self.verifiers:
            await verifier.start()

    async def close(self) -> None:
        for verifier in self.verifiers:
            await verifier.close()
        if self._on_close is not None:
            await self._on_close()
