"""The security layer as the transport sees it: who is calling, may they, and how often.

`authenticate` runs before the body is read (an unauthenticated client costs a
header lookup, not a 4 MiB read); `admit` checks the decoded JSON-RPC messages'
scopes and names the rate-limit buckets they draw on; `charge` draws on them.
Each raises `Refusal`, which the transport answers with the status, challenge
and JSON-RPC error it carries; every refusal is counted by reason and written to
the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bosun.protocol.observe import Observer
from bosun.protocol.principal import Principal
from bosun.security.audit import Audit
from bosun.security.challenge import Challenges, Refusal
from bosun.security.options import RateLimit, SecurityOptions
from bosun.security.policy import Policy, target_of
from bosun.security.ratelimit import MAX_KEY, Bucket, RateLimiter, bounded_key
from bosun.security.verifier import InvalidToken, TokenVerifier, VerifierBusy, VerifierChain, VerifierUnavailable

log = logging.getLogger("bosun.security")
_MAX_TOKEN = 16_384
_MAX_REMEMBERED_HEADER = 8192  # longer headers take the full path each time: the fast-path map stays small


class Gate:
    def __init__(self, options: SecurityOptions, verifiers: VerifierChain | None, policy: Policy,
                 limiter: RateLimiter | None, audit: Audit, observer: Observer | None = None) -> None:
        self.enabled = options.enabled and verifiers is not None
        self.options = options
        self.verifiers = verifiers
        self.policy = policy
        self.limiter = limiter
        self.rate: RateLimit | None = options.rate_limit
        self.audit = audit
        self.observer = observer
        self.challenges = Challenges(options, policy.challenge_scopes)
        self._tool_limits: dict[str, RateLimit] = {}
        self._by_header: dict[str, tuple[TokenVerifier, str]] = {}  # header -> its verifier, and the token (hash cached)

    async def authenticate(self, authorization: str | None, api_key: str | None, peer: str | None = None) -> Principal | None:
        """The caller, or None when the server runs open; raises `Refusal` (401; 503 if no one can vouch; 429 when
        the caller's address has used up its share of introspection calls).

        The transport asks `remembered` first; this is the way for a header not seen before.
        """
        if self.verifiers is None:
            return None
        try:
            token = self._credential(authorization, api_key)
            verifier = self.verifiers.pick(token)
            if verifier is None:
                raise InvalidToken("The access token is not one this server accepts")
            if self.verifiers.by_peer(verifier):
                principal = await verifier.verify(token, peer)
            else:
                principal = await verifier.verify(token)
            # Remembered only in the form clients send ("Bearer " and the token): padding the header with
            # spaces must not make one token into thousands of entries.
            if (authorization is not None and len(authorization) == len(token) + 7 and len(authorization) <= _MAX_REMEMBERED_HEADER
                    and verifier.remembered(token) is principal):
                if len(self._by_header) >= 4096:
                    self._by_header.clear()
                self._by_header[authorization] = (verifier, token)  # the next request skips straight to it
            return principal
        except InvalidToken as exc:
            raise self.refuse(self.challenges.invalid(str(exc)), peer=peer) from None
        except VerifierBusy as exc:
            raise self.refuse(self.challenges.rate_limited(exc.retry_after), peer=peer) from None
        except VerifierUnavailable as exc:
            raise self.refuse(self.challenges.unavailable(str(exc)), peer=peer) from None
        except Refusal as refusal:
            raise self.refuse(refusal, peer=peer) from None
        except Exception:
            # A verifier bug must not become a 500 that tells an attacker where it hurts: log it, refuse the token.
            log.exception("token verification failed unexpectedly")
            raise self.refuse(self.challenges.invalid("The access token could not be verified"), peer=peer) from None

    def remembered(self, authorization: str | None) -> Principal | None:
        """The caller behind an `Authorization` header seen before, if its token is still good: no parsing, no await.

        Clients send the same header on every request for a token's lifetime, so this is the
        steady state: one dictionary lookup on the header, then the verifier's own expiry check.
        """
        if authorization is None:
            return None
        known = self._by_header.get(authorization)
        if known is None:
            return None
        # The token object kept from the first time: its hash is cached, so the verifier's lookup does not hash
        # (nor slice) a kilobyte-long JWT again on every request.
        principal = known[0].remembered(known[1])
        if principal is None:
            del self._by_header[authorization]
        return principal

    def _credential(self, authorization: str | None, api_key: str | None) -> str:
        """The token from `Authorization: Bearer` (or `X-API-Key`), or a `Refusal` saying what is wrong."""
        token = None
        if authorization is not None:
            if authorization[:7].lower() != "bearer ":
                raise self.challenges.invalid("The Authorization header must be 'Bearer <token>'")
            token = authorization[7:].lstrip(" ")
            if not token or " " in token:
                raise self.challenges.invalid("The Authorization header must be 'Bearer <token>'")
        elif api_key is not None:
            token = api_key.strip()
        if not token:
            raise self.challenges.missing()
        if len(token) > _MAX_TOKEN:
            raise self.challenges.invalid("The access token is too long")
        return token

    def admit(self, principal: Principal | None, messages: Sequence[Any], peer: str | None) -> list[Bucket] | None:
        """Check scopes for every request in `messages` (raise `Refusal` if one is missing); return the rate-limit
        buckets to charge with `charge`, or None when no limit applies.

        Synchronous and one pass, written for the common case (one tools/call): the tool is looked
        up once for both its scopes and its rate limit, and nothing is built when no limit applies.
        """
        granted = principal.scopes if self.enabled and principal is not None else None
        policy = self.policy
        tools = policy.registry.tools
        requests = 0
        needed: frozenset[str] = frozenset()
        refused: list[str] = []
        limited: list[tuple[str, RateLimit, int]] = []
        for message in messages:
            if type(message) is not dict:
                continue
            method = message.get("method")
            if type(method) is not str or "id" not in message:
                continue
            requests += 1
            params = message.get("params")
            if method == "tools/call":
                name = params.get("name") if type(params) is dict else None
                tool = tools.get(name) if type(name) is str else None
                scopes = policy.base
                if tool is not None:
                    scopes = policy.tool_scopes(tool)
                    if tool.rate_limit is not None:
                        limited.append((f"t:{name}", self._limit(tool.rate_limit), 1))
                    if tool.shared_limit is not None:  # one budget for a group of tools (a gateway's backend)
                        limited.append((tool.shared_limit[0], self._limit(tool.shared_limit[1]), 1))
            elif granted is not None:
                scopes = policy.required(method, params)
            else:
                continue
            if granted is not None and scopes and not scopes <= granted:
                needed |= scopes
                target = target_of(method, params)
                refused.append(f"{method} {target}" if target else method)
        if refused:
            method, params = _method(messages[0]) if len(messages) == 1 else ("batch", None)
            raise self.refuse(self.challenges.insufficient(needed, ", ".join(refused[:3])), principal,
                              method, target_of(method or "", params), peer)
        if self.limiter is None or not requests or (self.rate is None and not limited):
            return None
        who = principal.key if principal is not None else f"peer#{peer or '-'}"
        if len(who) > MAX_KEY:  # a long subject or address: its digest keys the bucket (memory and Redis stay bounded)
            who = bounded_key(who)
        buckets: list[Bucket] = [(f"p:{who}", self.rate, requests)] if self.rate is not None else []
        if not limited:  # the common case, the caller's own limit alone: nothing to merge
            return buckets
        merged: dict[str, tuple[RateLimit, int]] = {}
        for key, limit, count in limited:
            merged[key] = (limit, merged[key][1] + count if key in merged else count)
        buckets.extend((f"{key}:{who}", limit, count) for key, (limit, count) in merged.items())
        return buckets

    def charged(self, buckets: list[Bucket], principal: Principal | None, messages: Sequence[Any],
                peer: str | None) -> bool:
        """Charge the rate-limit buckets `admit` returned if that needs no waiting (the steady state): True once
        charged, False when `charge` must be awaited; raise `Refusal` (429) when one is empty."""
        assert self.limiter is not None
        wait = self.limiter.spend(buckets)
        if wait is None:
            return False
        if wait > 0:
            raise self._limited(wait, principal, messages, peer)
        return True

    async def charge(self, buckets: list[Bucket], principal: Principal | None, messages: Sequence[Any],
                     peer: str | None) -> None:
        """Charge the rate-limit buckets `admit` returned; raise `Refusal` (429) when one is empty."""
        assert self.limiter is not None
        wait = await self.limiter.acquire(buckets)
        if wait > 0:
            raise self._limited(wait, principal, messages, peer)

    def _limited(self, wait: float, principal: Principal | None, messages: Sequence[Any], peer: str | None) -> Refusal:
        method, params = _method(messages[0]) if len(messages) == 1 else ("batch", None)
        return self.refuse(self.challenges.rate_limited(wait), principal, method, target_of(method or "", params), peer)

    def _limit(self, text: str) -> RateLimit:
        limit = self._tool_limits.get(text)
        if limit is None:
            limit = self._tool_limits[text] = RateLimit.parse(text)
        return limit

    def refuse(self, refusal: Refusal, principal: Principal | None = None, method: str | None = None,
               target: str | None = None, peer: str | None = None) -> Refusal:
        """Count and audit a refusal, and hand it back to be raised."""
        if self.observer is not None:
            self.observer.refusal(refusal.reason, refusal.status)
        self.audit.record(principal, method or "-", target, f"refused:{refusal.reason}", 0.0, peer=peer)
        return refusal

    def session_refused(self, principal: Principal | None) -> None:
        """A session presented by someone other than its owner: counted and audited (the transport answers 404)."""
        if self.observer is not None:
            self.observer.refusal("session_owner", 404)
        self.audit.record(principal, "-", None, "refused:session_owner", 0.0)

    async def start(self) -> None:
        if self.verifiers is not None:
            await self.verifiers.start()

    async def close(self) -> None:
        self.audit.flush()
        if self.verifiers is not None:
            await self.verifiers.close()
        if self.limiter is not None:
            await self.limiter.close()


def _method(message: Any) -> tuple[str | None, Any]:
    """(method, params) of a request; (None, None) for notifications, responses and anything malformed."""
    if type(message) is not dict:
        return None, None
    method = message.get("method")
    if type(method) is not str or "id" not in message:
        return None, None
    return method, message.get("params")
