"""The token-verifier seam: one small interface, several kinds of credential behind it.

A verifier turns the credential a request presented into a `Principal`, or
raises `InvalidToken` (the caller gets 401 `invalid_token`) or
`VerifierUnavailable` (the authority that could tell is unreachable: 503 and a
retry, never a 401 that would send a client back to its authorization server for
nothing). Verifiers never block the event loop and, in the steady state, make no
network call per request: whatever they fetch, they cache.
"""

from __future__ import annotations

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
    """Asks the first verifier that accepts the token's shape; one verifier's refusal is final."""

    def __init__(self, verifiers: list[TokenVerifier]) -> None:
        self.verifiers = verifiers

    def accepts(self, token: str) -> bool:
        return any(verifier.accepts(token) for verifier in self.verifiers)

    def remembered(self, token: str) -> Principal | None:
        return None

    async def verify(self, token: str) -> Principal:
        for verifier in self.verifiers:
            if verifier.accepts(token):
                return await verifier.verify(token)
        raise InvalidToken("The access token is not one this server accepts")

    async def start(self) -> None:
        for verifier in self.verifiers:
            await verifier.start()

    async def close(self) -> None:
        for verifier in self.verifiers:
            await verifier.close()
