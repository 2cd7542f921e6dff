"""Opaque access tokens, verified by asking the authorization server (RFC 7662 token introspection).

Each distinct token costs one introspection call, then its answer is cached by
the token's SHA-256 (never the token itself) for `cache_seconds` or until the
token expires, whichever is sooner. Concurrent requests with the same new token
share one call. The trade-off of the cache: a revoked token keeps working here
for up to `cache_seconds`.

Anyone can invent tokens, and each invented one would cost a call, so the calls
are admitted by `bosun.security.admission`: at most `max_concurrent` in flight,
a fair share per client address (waiting callers served round-robin by address,
a few queued per address, 429 past that), and a budget per address of tokens
that came back negative (`failures`), past which that address's unknown tokens
are refused with 429 without a call. Negative answers are cached apart from
positive ones (bounded, by digest), so repeating an invented token costs nothing
and a flood of them cannot push real users' answers out of the cache. A flood
from one address therefore neither hammers the authorization server nor delays
another address's first request by more than about one call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from bosun.protocol.principal import Principal
from bosun.security.admission import FailureBudget, FairSlots, address_of
from bosun.security.jwt_verifier import principal_from_claims
from bosun.security.options import RateLimit
from bosun.security.verifier import InvalidToken, VerifierUnavailable

log = logging.getLogger("bosun.security")
_CACHE_ENTRIES = 10_000
_NEGATIVE_ENTRIES = 4096
_INACTIVE = "The access token is not active (expired, revoked or unknown)"
_FAILURES = RateLimit(30, 60.0)  # BOSUN_AUTH_INTROSPECTION_FAILURES' default


class IntrospectionVerifier:
    peer_aware = True  # PeerAwareVerifier: the gate passes the caller's address to `verify`

    def __init__(self, url: str, client_id: str, client_secret: str, client: Any, audiences: tuple[str, ...],
                 issuer: str | None, cache_seconds: float, max_concurrent: int = 32,
                 failures: RateLimit | None = _FAILURES) -> None:
        self.url = url
        self.auth = (client_id, client_secret)
        self.client = client
        self.audiences = frozenset(audiences)
        self.issuer = issuer
        self.cache_seconds = cache_seconds
        self._answers: dict[bytes, tuple[Principal, float]] = {}  # digest -> (principal, until): active tokens only
        self._refused: dict[bytes, tuple[str, float]] = {}  # digest -> (reason, until): negative answers, apart
        self._pending: dict[bytes, asyncio.Future[tuple[Principal | None, str]]] = {}
        self._slots = FairSlots(max_concurrent, per_address=max(1, max_concurrent // 4))
        self._failures = FailureBudget(failures)

    def accepts(self, token: str) -> bool:
        return True

    def remembered(self, token: str) -> Principal | None:
        return None

    async def verify(self, token: str, peer: str | None = None) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        hit = self._answers.get(digest)
        if hit is not None and now < hit[1]:
            principal = hit[0]
        else:
            refused = self._refused.get(digest)
            if refused is not None and now < refused[1]:
                raise InvalidToken(refused[0])
            pending = self._pending.get(digest)
            if pending is None:
                pending = asyncio.get_running_loop().create_future()
                self._pending[digest] = pending
                try:
                    answer = await self._admitted(token, address_of(peer))
                    self._remember(digest, *answer)
                    pending.set_result(answer)
                except BaseException as exc:
                    pending.set_exception(exc)
                    pending.exception()  # retrieved: no "never retrieved" warning when nobody else waits
                    raise
                finally:
                    del self._pending[digest]
            found, reason = await asyncio.shield(pending)
            if found is None:
                raise InvalidToken(reason)
            principal = found
        if principal.expires_at is not None and principal.expires_at <= time.time():
            raise InvalidToken("The access token expired")
        return principal

    async def _admitted(self, token: str, address: str) -> tuple[Principal | None, str]:
        """Introspect `token` within `address`'s share (raise `VerifierBusy` past it); charge a negative answer to it."""
        self._failures.check(address)
        await self._slots.acquire(address)
        try:
            self._failures.check(address)  # its earlier tokens may have used the budget up while this one waited
            answer = await self._introspect(token)
        finally:
            self._slots.release(address)
        if answer[0] is None:
            self._failures.charge(address)
        return answer

    def _remember(self, digest: bytes, principal: Principal | None, reason: str) -> None:
        seconds = self.cache_seconds
        if principal is not None and principal.expires_at is not None:
            seconds = min(seconds, principal.expires_at - time.time())
        if seconds <= 0:
            return
        until = time.monotonic() + seconds
        if principal is None:
            if len(self._refused) >= _NEGATIVE_ENTRIES:
                del self._refused[next(iter(self._refused))]
            self._refused[digest] = (reason, until)
            return
        if len(self._answers) >= _CACHE_ENTRIES:
            del self._answers[next(iter(self._answers))]
        self._answers[digest] = (principal, until)

    async def _introspect(self, token: str) -> tuple[Principal | None, str]:
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
