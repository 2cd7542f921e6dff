"""JWT access tokens (RFC 9068) verified locally against the issuer's keys, with PyJWT.

What is checked, in order: the header's `typ` is one BOSUN_AUTH_JWT_TYPES accepts
(RFC 9068 section 4, RFC 8725 section 3.11: `at+jwt` always; by default also the
generic `JWT` and untyped tokens, which several providers issue), the algorithm is
on the allow-list (asymmetric only, never `none`, never HMAC), the signature against
the key the header names, `iss` exactly, `aud` containing this server's resource
URI (RFC 8707: a token minted for another service is refused), `exp` and `nbf`
with a small leeway, `iat` not in the future beyond it, and no claim that only an
OpenID Connect ID token carries (`nonce`, `at_hash`, ...): an ID token says who
logged in to a client, it grants nothing here. Scopes come from `scope`
(space-separated) or `scp` (list or string).

A token without `sub` (client credentials) is the client's, not a subject's: its
principal has `subject` None and a key of its own (`bosun.protocol.principal`).

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
# BOSUN_AUTH_JWT_TYPES' names, as the header's `typ` reads once normalized (`type_of`).
AT_JWT, GENERIC_JWT, UNTYPED = "at+jwt", "jwt", "untyped"
DEFAULT_TYPES = frozenset({AT_JWT, GENERIC_JWT, UNTYPED})
# Claims only OpenID Connect ID tokens carry (OIDC Core 3.1.3.6, 3.2.2.10, 3.3.2.11; FAPI's s_hash); RFC 9068 access
# tokens never do. Keycloak (`typ: ID`) and Amazon Cognito (`token_use: id`) mark theirs in the payload too.
_ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash", "s_hash")
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


def principal_from_claims(claims: dict[str, Any], method: str, issuer: Any) -> Principal:
    """The caller a verified token describes; a token without `sub` stands for its client alone (subject None)."""
    client_id = client_of(claims)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        if not client_id:
            raise InvalidToken("The access token names neither a subject nor a client")
        subject = None
    expires = claims.get("exp")
    return Principal(subject=subject, issuer=issuer if isinstance(issuer, str) else None, client_id=client_id,
                     scopes=scopes_of(claims), method=method, claims=claims,
                     expires_at=float(expires) if isinstance(expires, int | float) else None)


def type_of(header: dict[str, Any]) -> str | None:
    """The header's `typ` as BOSUN_AUTH_JWT_TYPES names it: lower case (media types are case-insensitive, RFC 8725
    section 3.11), without the optional "application/" prefix (RFC 7515 section 4.1.9); "untyped" when absent; None
    when it is not a string."""
    typ = header.get("typ", UNTYPED)
    if not isinstance(typ, str):
        return None
    typ = typ.lower()
    return typ[len("application/"):] if typ.startswith("application/") else typ


def id_token_shaped(claims: dict[str, Any]) -> bool:
    return (any(name in claims for name in _ID_TOKEN_CLAIMS) or claims.get("token_use") == "id"
            or (isinstance(claims.get("typ"), str) and claims["typ"].lower() == "id"))


class JwtVerifier:
    def __init__(self, keys: KeySet, issuer: str, audiences: tuple[str, ...], algorithms: tuple[str, ...],
                 leeway_seconds: float, types: frozenset[str] = DEFAULT_TYPES) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audiences = list(audiences)
        self.algorithms = frozenset(algorithms)
        self.leeway = leeway_seconds
        self.types = types | {AT_JWT}  # RFC 9068's own type is always accepted
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
        typ = type_of(header)
        if typ not in self.types:
            raise InvalidToken("The token is not an access token: its type (typ header) is not one this server accepts"
                               if typ is not None else "The access token is malformed")
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
        issued = claims.get("iat")
        if issued is not None and (type(issued) not in (int, float) or not issued <= time.time() + self.leeway):
            raise InvalidToken("The access token's issue time (iat) is in the future or not a number")
        if id_token_shaped(claims):
            raise InvalidToken("The token is an ID token, not an access token")
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
