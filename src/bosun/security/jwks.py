"""Signing keys for JWT access tokens: fetched from a JWKS URL with an async client, cached, refreshed.

* Keys are fetched once, then refreshed in the background every `cache_seconds`;
  requests keep using the keys in hand while that happens.
* A token signed with a key we do not know (the issuer rotated its keys) triggers
  one refetch, at most once per `min_refresh_seconds`, however many such tokens
  arrive: an attacker minting random `kid`s cannot make us hammer the issuer.
* When the issuer is unreachable the stale keys stay in use, and the failure is
  logged at most once per interval.
* With no JWKS URL but an issuer, the URL comes from the issuer's metadata
  (OAuth 2.0 Authorization Server Metadata or OpenID Connect Discovery).
* Static public keys (PEM) need no network at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import jwt

from bosun.security.verifier import VerifierUnavailable

log = logging.getLogger("bosun.security")
Event = Callable[[str], None]


class SigningKey(NamedTuple):
    kid: str | None
    key: Any  # the cryptography public key object PyJWT verifies with
    algorithm: str | None  # the `alg` the key is pinned to, if its JWK names one


def discovery_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may live, in the order MCP clients try them (RFC 8414 section 3.1, OIDC Discovery)."""
    parts = urlsplit(issuer.rstrip("/"))
    path = parts.path

    def at(well_known: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, well_known, "", ""))

    if not path:
        return [at("/.well-known/oauth-authorization-server"), at("/.well-known/openid-configuration")]
    return [at("/.well-known/oauth-authorization-server" + path), at("/.well-known/openid-configuration" + path),
            at(path + "/.well-known/openid-configuration")]


class KeySet:
    """The keys in hand, by `kid`; a key without a `kid` is filed under None."""

    def __init__(self, url: str | None, issuer: str | None, client: Any, cache_seconds: float, min_refresh_seconds: float,
                 static_keys: tuple[str, ...] = (), event: Event | None = None) -> None:
        self.url = url
        self.issuer = issuer
        self.client = client
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.event = event or (lambda name: None)
        self.keys: dict[str | None, SigningKey] = {}
        self._static = bool(static_keys)
        for index, pem in enumerate(static_keys):
            kid = f"static-{index}" if len(static_keys) > 1 else None
            self.keys[kid] = SigningKey(kid, _pem_key(pem), None)
        self._fetched_at = -1e18
        self._attempted_at = -1e18
        self._refreshing: asyncio.Task[None] | None = None
        self._last_warning = -1e18

    @property
    def remote(self) -> bool:
        return not self._static

    async def candidates(self, kid: str | None) -> list[SigningKey]:
        """The keys that may have signed a token with this `kid` (one, normally; all of them for a token without one)."""
        if self.remote:
            now = time.monotonic()
            may_retry = now - self._attempted_at >= self.min_refresh_seconds
            if not self.keys:
                if self._refreshing is None and now - self._attempted_at < 1.0:
                    raise VerifierUnavailable("the authorization server's signing keys cannot be fetched")
                await self.refresh()
            elif kid is not None and kid not in self.keys and may_retry:
                await self.refresh()  # the issuer may have rotated its keys
            elif now - self._fetched_at > self.cache_seconds and may_retry and self._refreshing is None:
                self._start_fetch()  # in the background: keep serving with the keys in hand
        if kid in self.keys:
            return [self.keys[kid]]
        if kid is None or not self.remote:
            return list(self.keys.values())[:8]  # configured keys carry no kid: try each
        return []

    def _start_fetch(self) -> asyncio.Task[None]:
        task = self._refreshing
        if task is None:
            task = self._refreshing = asyncio.create_task(self._fetch())
            task.add_done_callback(self._fetch_done)
        return task

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        if self._refreshing is task:
            self._refreshing = None

    async def refresh(self) -> None:
        """Fetch the key set once, however many callers ask at the same moment."""
        await asyncio.shield(self._start_fetch())
        if not self.keys:
            raise VerifierUnavailable("the authorization server's signing keys cannot be fetched")

    async def _fetch(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            url = self.url or await self._discover()
            response = await self.client.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            keys = _parse_jwks(response.json())
            if not keys:
                raise ValueError("the key set holds no usable signing key")
        except Exception as exc:
            self.event("jwks_fetch_failed")
            if time.monotonic() - self._last_warning >= max(self.min_refresh_seconds, 10.0):
                self._last_warning = time.monotonic()
                log.warning("cannot fetch the token signing keys (%s: %s); keeping the %d keys in hand",
                            type(exc).__name__, exc, len(self.keys))
            return
        self.keys = keys
        self._fetched_at = time.monotonic()
        self.event("jwks_fetched")

    async def _discover(self) -> str:
        if self.issuer is None:
            raise ValueError("no JWKS URL and no issuer to discover it from")
        for url in discovery_urls(self.issuer):
            response = await self.client.get(url, headers={"accept": "application/json"})
            if response.status_code != 200:
                continue
            document = response.json()
            if document.get("issuer") == self.issuer and isinstance(document.get("jwks_uri"), str):
                self.url = document["jwks_uri"]
                return self.url
        raise ValueError(f"no metadata naming issuer {self.issuer} and a jwks_uri")


def _parse_jwks(document: Any) -> dict[str | None, SigningKey]:
    keys: dict[str | None, SigningKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type or curve we cannot use: skip it, keep the rest
        kid = entry.get("kid") if isinstance(entry.get("kid"), str) else None
        algorithm = entry.get("alg") if isinstance(entry.get("alg"), str) else None
        keys[kid] = SigningKey(kid, key.key, algorithm)
    return keys


def _pem_key(pem: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from bosun.security.options import SecurityConfigError

    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise SecurityConfigError(f"BOSUN_AUTH_PUBLIC_KEYS: not a PEM public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise SecurityConfigError("BOSUN_AUTH_PUBLIC_KEYS: only RSA, EC and Ed25519/Ed448 public keys are supported")
    return key
