"""The token-verifier seam: one small interface, several kinds of credential behind it.

A verifier turns the credential a request presented into a `Principal`, or
raises `InvalidToken` (the caller gets 401 `invalid_token`) or
`VerifierUnavailable` (the authority that could tell is unreachable: 503 and a
retry, never a 401 that would send a client back to its authorization server for
nothing). Verifiers never block the event loop and, in the steady state, make no
network call per request: whatever they fetch, they cache.

A verifier that must ask the network about every token it has not seen
(introspection) is a `PeerAwareVerifier`: it is told the caller's address, so the
cost that callers without credentials can cause is shared fairly among addresses
and bounded per address; it raises `VerifierBusy` (429) for a caller over its share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeGuard

from bosun.protocol.principal import Principal


class InvalidToken(Exception):
    """The credential is missing, malformed, expired, forged or not for this server.

    The message is safe to show the client (it says what is wrong with the token,
    never what the token is).
    """


class VerifierUnavailable(Exception):
    """Verification needs an authorization server that cannot be reached right now."""


class VerifierBusy(Exception):
    """The caller's address has used up its share of token checks (too many waiting, or too many unknown tokens):
    retry after `retry_after` seconds. The authorization server was not asked."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


class PeerAwareVerifier(TokenVerifier, Protocol):
    """A verifier whose every unknown token costs a network call: it takes the caller's address along."""

    peer_aware: bool  # True: the marker `VerifierChain.by_peer` reads

    async def verify(self, token: str, peer: str | None = None) -> Principal:
        """As `TokenVerifier.verify`; may also raise `VerifierBusy` for a caller over its address's share."""
        ...


class VerifierChain:
    """The verifiers a server trusts, in order: the first that accepts a token's shape judges it, and its
    refusal is final. Owns their lifecycle (and anything they share, prepared by `on_start`, closed by `on_close`)."""

    def __init__(self, verifiers: list[TokenVerifier], on_close: Callable[[], Awaitable[None]] | None = None,
                 on_start: Callable[[], Awaitable[None]] | None = None) -> None:
        self.verifiers = verifiers
        self._on_start = on_start
        self._on_close = on_close
        self._by_peer = tuple(verifier for verifier in verifiers if getattr(verifier, "peer_aware", False))

    def pick(self, token: str) -> TokenVerifier | None:
        for verifier in self.verifiers:
            if verifier.accepts(token):
                return verifier
        return None

    def by_peer(self, verifier: TokenVerifier) -> TypeGuard[PeerAwareVerifier]:
        """Whether `verifier` wants the caller's address (`PeerAwareVerifier`): decided once, at construction."""
        return verifier in self._by_peer

    async def start(self) -> None:
        if self._on_start is not None:
            await self._on_start()
        for verifier in self.verifiers:
            await verifier.start()

    async def close(self) -> None:
        for verifier in self.verifiers:
            await verifier.close()
        if self._on_close is not None:
            await self._on_close()
