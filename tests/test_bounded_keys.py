"""Keys made from requests stay bounded: in how many the security layer keeps, and in how long each one is.

A caller chooses its subject (through any issuer that lets it), its address (through a believed
proxy), and how its Authorization header is spaced; none of these may make a rate-limit bucket,
a Redis key or a cache entry grow without bound.
"""

from __future__ import annotations

import asyncio
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bosun.app.registry import Registry
from bosun.protocol.principal import Principal
from bosun.security.build import build_gate
from bosun.security.options import RateLimit, SecurityOptions
from bosun.security.ratelimit import MemoryRateLimiter

TOOLS_LIST = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]


def test_rate_limit_buckets_are_bounded_in_number_when_every_caller_is_new() -> None:
    """60,000 distinct callers within one period (2 requests an hour each, so none refills): at most 50,000 kept."""
    async def flood() -> int:
        limiter = MemoryRateLimiter()
        hourly = RateLimit(2, 3600.0)
        for n in range(60_000):
            assert await limiter.acquire([(f"p:peer#2001:db8::{n:x}", hourly, 1)]) == 0.0
        latest = [("p:peer#2001:db8::ea5f", hourly, 1)]
        assert await limiter.acquire(latest) == 0.0 and await limiter.acquire(latest) > 0  # recent callers are kept
        return len(limiter._due)

    assert asyncio.run(flood()) <= 50_000


def test_a_new_caller_may_spend_its_whole_burst_at_once() -> None:
    async def first_requests() -> list[float]:
        limiter = MemoryRateLimiter()
        return [await limiter.acquire([(f"p:caller-{n}", RateLimit(1, 3600.0), 1)]) for n in range(2000)]

    assert set(asyncio.run(first_requests())) == {0.0}


def test_rate_limit_keys_are_bounded_in_length() -> None:
    gate = build_gate(SecurityOptions(rate_limit=RateLimit(5, 60.0)), Registry(), None, "", "bosun:test")
    long_subject = Principal("s" * 10_000, "https://issuer.example", None, frozenset({"mcp"}), "jwt")
    for principal, peer in ((long_subject, None), (None, "x" * 10_000)):
        buckets = gate.admit(principal, TOOLS_LIST, peer)
        assert buckets and all(len(key) <= 210 for key, _, _ in buckets)
    other = Principal("s" * 9_999 + "t", "https://issuer.example", None, frozenset({"mcp"}), "jwt")
    assert gate.admit(long_subject, TOOLS_LIST, None) != gate.admit(other, TOOLS_LIST, None)  # still one bucket per caller


def test_spacing_an_authorization_header_does_not_multiply_remembered_headers() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    issuer, audience = "https://issuer.example", "https://mcp.example/mcp"
    options = SecurityOptions(enabled=True, issuer=issuer, public_keys=(pem,), audiences=(audience,), resource=audience)
    gate = build_gate(options, Registry(), None, "", "bosun:test")
    token = jwt.encode({"iss": issuer, "aud": audience, "sub": "alice", "exp": int(time.time()) + 300}, key, algorithm="ES256",
                       headers={"typ": "at+jwt"})

    async def spaced() -> None:
        for spaces in range(1, 65):
            principal = await gate.authenticate("Bearer" + " " * spaces + token, None)
            assert principal is not None and principal.subject == "alice"  # accepted, as before
        assert gate.remembered("Bearer " + token) is not None  # the form clients send takes the fast path
        assert all(gate.remembered("Bearer" + " " * spaces + token) is None for spaces in range(2, 65))

    asyncio.run(spaced())
