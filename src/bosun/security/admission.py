"""Fair, bounded admission for token checks that cost a call to the authorization server (introspection).

Anyone can send a made-up opaque token, and each distinct one costs a network call, so
without care one address with a few hundred invented tokens fills every slot and real
users wait behind it for seconds. Three bounds keep that cost small and fairly shared:

* `FairSlots`: at most `total` calls in flight, at most `per_address` of them for one
  address (so while a few addresses flood, a slot is free for anyone else at once, and
  a first request waits for one call, not for the queue), and the waiting callers served
  round-robin by address (one address's queue never delays another's turn by more than
  one call). Each address may queue only a few
  calls, and everybody together only so many: past that the caller gets 429 at once,
  rather than a long wait that holds its connection and the server's memory.
* `FailureBudget`: per address, a rate of token checks that came back negative (unknown,
  revoked, expired, not for this resource). Past it, that address's unknown tokens are
  refused with 429 without asking the authorization server; its known tokens still work.
* The verifier keeps inactive answers in a cache of their own (`introspection`), so
  repeating an invented token costs nothing and a flood of them cannot push real
  users' answers out of the positive cache.

Addresses are grouped as an attacker would have to spread them: one IPv4 address, one
IPv6 /64 (a single host is commonly handed a whole /64). Per-address state is bounded:
`FairSlots` keeps only addresses with calls in flight or waiting (themselves bounded),
`FailureBudget` at most `max_addresses`. None of this runs for a token already cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import time
from collections import OrderedDict, deque

from bosun.ops.logs import Throttled
from bosun.security.options import RateLimit
from bosun.security.ratelimit import trim
from bosun.security.verifier import VerifierBusy

_BUSY = "too many token checks from this address are waiting; retry shortly"
_FULL = "too many token checks are waiting; retry shortly"
_UNKNOWN = "too many unknown access tokens from this address; retry later"
log = logging.getLogger("bosun.security")


def address_of(peer: str | None) -> str:
    """The key a caller's share is counted under: its IPv4 address, or its IPv6 /64; bounded in length."""
    if peer is None:
        return "-"
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:  # not an address (a Unix socket, or text a trusted proxy passed on)
        return peer if len(peer) <= 64 else "h:" + hashlib.blake2b(peer.encode(errors="surrogatepass"), digest_size=12).hexdigest()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FairSlots:
    """At most `total` token checks in flight, `per_address` per address, waiting callers served round-robin."""

    def __init__(self, total: int = 32, per_address: int = 8, queue_per_address: int = 16, queue_total: int = 1024) -> None:
        self.free = total
        self.per_address = per_address
        self.queue_per_address = queue_per_address
        self.queue_total = queue_total
        self._running: dict[str, int] = {}  # address -> calls in flight (only addresses with some)
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}  # address -> its queued callers, oldest first
        self._turns: OrderedDict[str, None] = OrderedDict()  # addresses with a caller waiting and room to run one
        self._queued = 0

    async def acquire(self, address: str) -> None:
        """Wait for a slot (fairly), or raise `VerifierBusy` at once when this address or everybody waits too much."""
        running = self._running.get(address, 0)
        if self.free and running < self.per_address:  # a free slot means nobody with room is waiting
            self.free -= 1
            self._running[address] = running + 1
            return
        queue = self._waiting.get(address)
        if queue is not None and len(queue) >= self.queue_per_address:
            raise VerifierBusy(_BUSY, 1.0)
        if self._queued >= self.queue_total:
            raise VerifierBusy(_FULL, 1.0)
        if queue is None:
            queue = self._waiting[address] = deque()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(future)
        self._queued += 1
        if running < self.per_address:
            self._turns[address] = None
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(address)  # granted as the caller gave up: pass the slot on
            elif future in queue:
                queue.remove(future)
                self._queued -= 1
                if not queue:
                    del self._waiting[address]
                    self._turns.pop(address, None)
            raise

    def release(self, address: str) -> None:
        running = self._running[address] - 1
        if running:
            self._running[address] = running
        else:
            del self._running[address]
        self.free += 1
        if address in self._waiting and running < self.per_address:
            self._turns.setdefault(address, None)
        self._grant()

    def _grant(self) -> None:
        """Hand free slots to waiting addresses in turn: one call each, then to the back of the line."""
        while self.free and self._turns:
            address = next(iter(self._turns))
            del self._turns[address]
            queue = self._waiting[address]
            future = queue.popleft()
            self._queued -= 1
            if not future.done():  # a caller cancelled but not yet woken gave its place up
                self.free -= 1
                running = self._running[address] = self._running.get(address, 0) + 1
                future.set_result(None)
            else:
                running = self._running.get(address, 0)
            if not queue:
                del self._waiting[address]
            elif running < self.per_address:
                self._turns[address] = None


class FailureBudget:
    """Per address, at most `limit` negative token checks (a burst of `limit.count`, then the steady rate)."""

    def __init__(self, limit: RateLimit | None, max_addresses: int = 10_000) -> None:
        self.limit = limit
        self.max_addresses = max_addresses
        self._due: dict[str, float] = {}  # address -> theoretical arrival time of its next failure (GCRA)
        self._warning = Throttled(log, 60.0)

    def check(self, address: str) -> None:
        """Raise `VerifierBusy` if `address` has used up its budget: its next unknown token is not worth a call."""
        due = self._due.get(address)
        if due is None or self.limit is None:
            return
        now = time.monotonic()
        wait = max(due, now) + self.limit.seconds / self.limit.count - self.limit.seconds - now
        if wait > 0:
            # Said, because a proxy whose address is not in BOSUN_FORWARDED_ALLOW_IPS makes all its clients one address.
            self._warning.warning("unknown opaque tokens from %s are refused without introspection for %.0f s: more than "
                                  "BOSUN_AUTH_INTROSPECTION_FAILURES=%s came back inactive (a proxy? see BOSUN_FORWARDED_ALLOW_IPS)",
                                  address, wait, self.limit)
            raise VerifierBusy(_UNKNOWN, wait)

    def charge(self, address: str) -> None:
        """A token from `address` came back negative."""
        if self.limit is None:
            return
        now = time.monotonic()
        if address not in self._due and len(self._due) >= self.max_addresses:
            trim(self._due, now, self.max_addresses)
        self._due[address] = max(self._due.get(address, now), now) + self.limit.seconds / self.limit.count

