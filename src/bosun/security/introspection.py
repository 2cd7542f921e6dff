"""Opaque access tokens, verified by asking the authorization server (RFC 7662 token introspection).

Each distinct token costs one introspection call, then its answer is cached by
the token's SHA-256 (never the token itself) for `cache_seconds` or until the
token expires, whichever is sooner; a token reported inactive is cached as
such. Concurrent requests with the same new token share one call, and at most
`max_concurrent` calls are in flight, so a flood of made-up tokens cannot turn
this server into a hammer against the authorization server. The trade-off of
the cache: a revoked token keeps working here for up to `cache_seconds`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from bosun.protocol.principal import Principal
from bosun.security.jwt_verifier import principal_from_claims
from bosun.security.verifier import InvalidToken, VerifierUnavailable

log = logging.getLogger("bosun.security")
_CACHE_ENTRIES = 10_000
_INACTIVE = "The access token is not active (expired, revoked or unknown)"


class IntrospectionVerifier:
    def __init__(self, url: str, client_id: str, client_secret: str, client: Any, audiences: tuple[str, ...],
                 issuer: str | None, cache_seconds: float, max_concurrent: int = 32) -> None:
        self.url = url
        self.auth = (client_id, client_secret)
        self.client = client
        self.audiences = frozenset(audiences)
        self.issuer = issuer
        self.cache_seconds = cache_seconds
        self._answers: dict[bytes, tuple[Principal | None, float, str]] = {}
        self._pending: dict[bytes, asyncio.Future[tuple[Principal | None, str]]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)

    def accepts(self, token: str) -> bool:
        return True

    def remembered(self, token: str) -> Principal | None:
        return None

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        hit = self._answers.get(digest)
        if hit is not None and now < hit[1]:
            principal, _, reason = hit
        else:
            pending = self._pending.get(digest)
            if pending is None:
                pending = asyncio.get_running_loop().create_future()
                self._pending[digest] = pending
                try:
                    answer = await self._introspect(token)
                    pending.set_result(answer)
                except BaseException as exc:
                    pending.set_exception(exc)
                    pending.exception()  # retrieved: no "never retrieved" warning when nobody else waits
                    raise
                finally:
                    del self._pending[digest]
            principal, reason = await asyncio.shield(pending)
            self._remember(digest, principal, reason)
        if principal is None:
            raise InvalidToken(reason)
        if principal.expires_at is not None and principal.expires_at <= time.time():
            raise InvalidToken("The access token expired")
        return principal

    def _remember(self, digest: bytes, principal: Principal | None, reason: str) -> None:
        seconds = self.cache_seconds
        if principal is not None and principal.expires_at is not None:
            seconds = min(seconds, principal.expires_at - time.time())
        if seconds <= 0:
            return
        if len(self._answers) >= _CACHE_ENTRIES:
            del self._answers[next(iter(self._answers))]
        self._answers[digest] = (principal, time.monotonic() + seconds, reason)

    async def _introspect(self, token: str) -> tuple[Principal | None, str]:
        async with self._slots:
            try:
                response = await self.client.post(self.url, data={"token": token, "token_type_hint": "access_token"},
                                                   auth=self.auth, headers={"accept": "application/json"})
            except Exception as exc:
                log.warning("token introspection failed: %s", type(exc).__name__)
                raise VerifierUnavailable("the authorization server cannot be reached to check the token") from None
        if response.status_code != 200:
            log.warning("token introspection answered HTTP %d (are BOSUN_AUTH_CLIENT_ID/SECRET right?)", response.status_code)
            raise VerifierUnavailable("the authorization server did not answer the token check")
        try:
            answer = response.json()
        except ValueError:
            raise VerifierUnavailable("the authorization server answered the token check with something other than JSON") from None
        if not isinstance(answer, dict) or answer.get("active") is not True:
            return None, _INACTIVE
        audience = answer.get("aud")
        audiences = {audience} if isinstance(audience, str) else set(audience) if isinstance(audience, list) else set()
        if not audiences & self.audiences:
            return None, "The access token was not issued for this resource"
        if self.issuer is not None and answer.get("iss", self.issuer) != self.issuer:
            return None, "The access token was issued by an issuer this server does not trust"
        try:
            return principal_from_claims(answer, "introspection", self.issuer or answer.get("iss")), ""
        except InvalidToken as exc:
            return None, str(exc)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
