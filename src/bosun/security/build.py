"""Wiring: the security layer a server's settings ask for, assembled once at start-up."""

from __future__ import annotations

from typing import Any

from bosun.app.registry import Registry
from bosun.protocol.observe import Observer
from bosun.security.audit import Audit
from bosun.security.gate import Gate
from bosun.security.options import SecurityOptions
from bosun.security.policy import Policy
from bosun.security.ratelimit import MemoryRateLimiter, RateLimiter
from bosun.security.verifier import TokenVerifier, VerifierChain


class _LazyHttp:
    """One async HTTP client for keys and introspection, created inside the running event loop (at start-up by
    `prepare`, or on first use)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._client: Any = None

    def _get(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                             headers={"user-agent": "bosun-resource-server"})
        return self._client

    async def prepare(self) -> None:
        """Create the client now: importing httpx and loading the trust store take a good part of a second on a
        busy machine, which the first caller with an opaque token would otherwise wait for."""
        self._get()

    async def get(self, url: str, **kwargs: Any) -> Any:
        return await self._get().get(url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Any:
        return await self._get().post(url, **kwargs)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def build_verifier(options: SecurityOptions, observer: Observer | None) -> VerifierChain | None:
    if not options.enabled:
        return None
    event = observer.security_event if observer is not None else None
    http = _LazyHttp(options.http_timeout_seconds)
    verifiers: list[TokenVerifier] = []
    if options.api_keys_file:
        from bosun.security.apikeys import ApiKeyVerifier

        verifiers.append(ApiKeyVerifier(options.api_keys_file))
    if options.issuer and (options.jwks_url or options.public_keys or not options.introspection_url):
        from bosun.security.jwks import KeySet
        from bosun.security.jwt_verifier import JwtVerifier

        keys = KeySet(options.jwks_url, options.issuer, http, options.jwks_cache_seconds, options.jwks_min_refresh_seconds,
                      options.public_keys, event)
        verifiers.append(JwtVerifier(keys, options.issuer, options.audiences, options.algorithms, options.leeway_seconds,
                                     options.jwt_types))
    if options.introspection_url:
        from bosun.security.introspection import IntrospectionVerifier

        assert options.client_id is not None and options.client_secret is not None
        verifiers.append(IntrospectionVerifier(options.introspection_url, options.client_id, options.client_secret, http,
                                               options.audiences, options.issuer, options.introspection_cache_seconds,
                                               failures=options.introspection_failures))
    return VerifierChain(verifiers, on_start=http.prepare if options.introspection_url else None, on_close=http.aclose)


def build_gate(options: SecurityOptions, registry: Registry, observer: Observer | None, redis_url: str,
               namespace: str) -> Gate:
    policy = Policy(registry, options.required_scopes, options.hide_unauthorized, options.scopes_supported)
    # Always there (a tool registered later may bring a limit); it is only asked when a bucket applies.
    limiter: RateLimiter
    if redis_url:
        from bosun.security.ratelimit_redis import RedisRateLimiter

        limiter = RedisRateLimiter(redis_url, namespace, observer.security_event if observer is not None else None)
    else:
        limiter = MemoryRateLimiter()
    audit = Audit(options.audit != "off", options.audit_arguments, options.audit_log, calls=options.audit == "all")
    return Gate(options, build_verifier(options, observer), policy, limiter, audit, observer)
