"""JWT access tokens (RFC 9068) verified locally against the issuer's keys, with PyJWT.

What is checked, in order: the algorithm is on the allow-list (asymmetric only,
never `none`, never HMAC), the signature against the key the header names,
`iss` exactly, `aud` containing this server's resource URI (RFC 8707: a token
minted for another service is refused), `exp` and `nbf` with a small leeway.
Scopes come from `scope` (space-separated) or `scp` (list or string).

A verified token is remembered until it expires, so the steady state costs one
dictionary lookup per request; the entry is dropped early if its signing key
leaves the issuer's key set.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt

from bosun.protocol.principal import Principal
from bosun.security.jwks import KeySet, SigningKey
from bosun.security.verifier import InvalidToken

_CACHE_ENTRIES = 4096
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "The access token expired"),
    (jwt.ImmatureSignatureError, "The access token is not valid yet"),
    (jwt.InvalidAudienceError, "The access token was not issued for this resource"),
    (jwt.InvalidIssuerError, "The access token was issued by an issuer this server does not trust"),
    (jwt.MissingRequiredClaimError, "The access token lacks a required claim"),
    (jwt.InvalidSignatureError, "The access token signature is invalid"),
)


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        return frozenset(scp.split())
    if isinstance(scp, list):
        return frozenset(item for item in scp if isinstance(item, str))
    return frozenset()


def client_of(claims: dict[str, Any]) -> str | None:
    for name in ("client_id", "azp", "cid", "appid"):
        value = claims.get(name)
        if isinstance(value, str):
            return value
    return None


def principal_from_claims(claims: dict[str, Any], method: str, issuer: str | None) -> Principal:
    client_id = client_of(claims)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        if client_id is None:
            raise InvalidToken("The access token names neither a subject nor a client")
        subject = client_id
    expires = claims.get("exp")
    return Principal(subject=subject, issuer=issuer, client_id=client_id, scopes=scopes_of(claims), method=method,
                     claims=claims, expires_at=float(expires) if isinstance(expires, int | float) else None)


class JwtVerifier:
    def __init__(self, keys: KeySet, issuer: str, audiences: tuple[str, ...], algorithms: tuple[str, ...],
                 leeway_seconds: float) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audiences = list(audiences)
        self.algorithms = frozenset(algorithms)
        self.leeway = leeway_seconds
        self._verified: dict[str, tuple[Principal, float, str | None]] = {}
        self._warming: asyncio.Task[None] | None = None

    def accepts(self, token: str) -> bool:
        return token.count(".") == 2

    def remembered(self, token: str) -> Principal | None:
        """A token verified before, still unexpired, whose signing key is still published."""
        hit = self._verified.get(token)
        if hit is None:
            return None
        principal, expires, signer = hit
        if time.time() <= expires + self.leeway and signer in self.keys.keys:
            return principal
        del self._verified[token]
        return None

    async def verify(self, token: str) -> Principal:
        known = self.remembered(token)
        if known is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The access token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise InvalidToken(f"The access token algorithm {str(algorithm)[:16]!r} is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("The access token is malformed")
        candidates = await self.keys.candidates(kid)
        if not candidates:
            raise InvalidToken("The access token is signed with a key the issuer does not publish")
        claims, signer = self._decode(token, algorithm, candidates)
        principal = principal_from_claims(claims, "jwt", self.issuer)
        if principal.expires_at is not None:
            if len(self._verified) >= _CACHE_ENTRIES:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (principal, principal.expires_at, signer)
        return principal

    def _decode(self, token: str, algorithm: str, candidates: list[SigningKey]) -> tuple[dict[str, Any], str | None]:
        failure: Exception | None = None
        for candidate in candidates:
            if candidate.algorithm not in (algorithm, None):
                failure = jwt.InvalidSignatureError()
                continue  # the key is pinned to another algorithm
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, candidate.key, algorithms=[algorithm], audience=self.audiences, issuer=self.issuer,
                    leeway=self.leeway, options={"require": ["exp", "iss", "aud"], "verify_iat": False})
                return claims, candidate.kid
            except jwt.InvalidSignatureError as exc:
                failure = exc
            except jwt.PyJWTError as exc:
                failure = exc
                break  # the signature held; the claims did not
        raise InvalidToken(_reason(failure)) from None


    async def start(self) -> None:
        """Fetch the issuer's keys now, in the background, so the first caller need not wait for them."""
        if self.keys.remote:
            self._warming = asyncio.create_task(_quietly(self.keys.refresh()))

    async def close(self) -> None:
        return None


async def _quietly(work: Any) -> None:
    try:
        await work
    except Exception:  # the failure is logged where it happens; the next request retries
        return


def _reason(failure: Exception | None) -> str:
    for kind, text in _REASONS:
        if isinstance(failure, kind):
            return text
    return "The access token is invalid"
