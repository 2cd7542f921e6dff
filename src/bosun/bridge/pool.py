"""The children of one bridge: started when needed, capped, restarted with backoff, stopped when idle.

Children are keyed by what isolates them: one key for a `shared` bridge, the session id for a
`session` bridge, the principal for a `principal` bridge; a `request` bridge starts a child per
call and stops it after. Starting a child for a key happens once at a time (a lock per key), so
a burst of first calls makes one child, not fifty.

Failures are kept from turning into a fork storm: a child that exits soon after it started, or
fails its handshake, counts as a crash. Each crash doubles the wait before the next start (with
jitter, so replicas do not restart in step), and `crash_loop` crashes within a minute open a
breaker: calls get a retryable 503 at once, `/ready`'s detail and the metrics say so, and one
start is tried again when the breaker's cool-down ends.

Every process the pool starts is watched from its first moment and stopped at shutdown, whether it
is serving, still in its handshake, or already on its way out: a child is never let go of before
its exit has been seen. Children still starting count against the caps, so a burst of first calls
on a `request` bridge cannot start more than `max_children`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bosun.bridge.child import Child
from bosun.bridge.handshake import HandshakeFailed
from bosun.bridge.options import BridgeOptions
from bosun.bridge.process import ChildProcess, ChildStartFailed, limited
from bosun.ops.metrics_core import Histogram
from bosun.protocol.errors import INTERNAL_ERROR, McpError

log = logging.getLogger("bosun.bridge")
_CRASH_WINDOW = 60.0
_SOON = 5.0  # an exit this soon after the start counts as a crash
PLACEHOLDER = "{isolation_key}"


class BridgeUnavailable(McpError):
    """No child can take this call now (at the cap, backing off, crash-looping): a retryable 503."""

    def __init__(self, why: str, retry_after: float) -> None:
        super().__init__(INTERNAL_ERROR, f"The bridged server is unavailable: {why}; retry later", http_status=503)
        self.retry_after = max(1, round(retry_after))


class ChildPool:
    def __init__(self, options: BridgeOptions, environment: dict[str, str], secrets: list[str],
                 on_list_changed: Callable[[str], None], on_resource_updated: Callable[[str], None]) -> None:
        self.options = options
        self.environment = environment
        self.secrets = secrets
        self.on_list_changed = on_list_changed
        self.on_resource_updated = on_resource_updated
        self.handshake_seconds = Histogram((0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.children: dict[str, Child] = {}
        self.owners: dict[str, str] = {}  # key -> principal whose child it is (for the per-principal cap)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per key: its lock, and how many hold or wait for it
        self.modern_hint: bool | None = None  # the era the command's children spoke, once known
        self.crashes: list[float] = []
        self.next_start = 0.0
        self.restarts = 0
        self.handshakes = 0
        self._reaper: asyncio.Task[None] | None = None
        self.closing = False
        self.running: set[Child] = set()  # every child whose process has not been seen to exit, in the pool or not
        self.starting: Counter[str] = Counter()  # owner -> children still in their handshake (counted in the caps)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._remote: Any = None  # a remote bridge's RemoteConnection (bridge/http/), made with its first link

    # State for probes and metrics.
    @property
    def crash_looping(self) -> bool:
        now = time.monotonic()
        return len([at for at in self.crashes if now - at < _CRASH_WINDOW]) >= self.options.crash_loop and now < self.next_start

    def state(self) -> str:
        if self.crash_looping:
            return "crash-looping"
        if any(child.alive for child in self.children.values()):
            return "up"
        return "backing-off" if time.monotonic() < self.next_start else "idle"

    def live(self) -> int:
        return sum(1 for child in self.children.values() if child.alive)

    # Getting a child.
    async def acquire(self, key: str, owner: str) -> Child:
        child = self.children.get(key)
        if child is not None and child.alive:
            child.last_active = time.monotonic()  # taken: the idle reaper must not stop it before its call starts
            return child
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                child = self.children.get(key)
                if child is not None and child.alive:
                    child.last_active = time.monotonic()
                    return child
                if child is not None:
                    self._forget(key, child)
                child = await self.start(owner, key)
                self.children[key] = child
                self.owners[key] = owner
                return child
        finally:
            lock, users = self._locks[key]
            if users > 1:
                self._locks[key] = (lock, users - 1)
            else:  # nobody holds or waits for it: a lock per session or per call would otherwise pile up
                del self._locks[key]

    def _forget(self, key: str, child: Child) -> None:
        self.children.pop(key, None)
        self.owners.pop(key, None)
        if time.monotonic() - child.process.started < _SOON and not child.process.reason.startswith("stopped"):
            self._crashed()

    def _check_caps(self, owner: str) -> None:
        live = self.live() + self.starting.total()
        if live >= self.options.max_children:
            raise BridgeUnavailable(f"it runs its most children ({self.options.max_children})", 1)
        mine = self.starting[owner] + sum(1 for key, child in self.children.items()
                                          if child.alive and self.owners.get(key) == owner)
        if owner and mine >= self.options.max_children_per_principal:
            raise BridgeUnavailable(f"this caller has its most children ({self.options.max_children_per_principal})", 1)

    def _for_key(self, key: str) -> tuple[list[str], dict[str, str]]:
        """The command and environment with `{isolation_key}` filled in: a digest of the key, safe in a file name,
        so that a server keeping state in a file (server-memory's MEMORY_FILE_PATH) keeps one per principal."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        argv = [part.replace(PLACEHOLDER, digest) for part in self.options.command]
        environment = {name: value.replace(PLACEHOLDER, digest) for name, value in self.environment.items()}
        if self.options.container is not None:
            return self._in_container(argv, environment)
        return argv, environment

    def _in_container(self, argv: list[str], environment: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """`argv` run in the bridge's container: podman's command (with a unique container name, each start) and
        podman's environment, the child's variables going in by name only (bridge/container.py)."""
        from bosun.bridge.container import in_container  # only bridges that run containers load it

        return in_container(self.options, argv, environment)

    async def start(self, owner: str, key: str = "") -> Child:
        """A new child, after its handshake; not kept in the pool (the caller decides)."""
        if self.closing:
            raise BridgeUnavailable("the server is shutting down", 1)
        wait = self.next_start - time.monotonic()
        if wait > 0:
            why = "it keeps crashing" if self.crash_looping else "it crashed and is restarting"
            raise BridgeUnavailable(why, wait)
        self._check_caps(owner)
        self.starting[owner] += 1
        try:
            return await self._start(key)
        finally:
            self.starting[owner] -= 1
            if not self.starting[owner]:
                del self.starting[owner]

    async def _start(self, key: str) -> Child:
        options = self.options
        started = time.perf_counter()
        if options.remote is not None:
            child = self._connect()
        else:
            try:
                argv, environment = self._for_key(key)
                process = await ChildProcess.start(limited(argv, options.memory_bytes, options.cpu_seconds, options.open_files),
                                                   environment, options.max_line_bytes, options.name, options.cwd, self.secrets)
            except ChildStartFailed as failure:
                self._crashed()
                raise BridgeUnavailable(str(failure), self.next_start - time.monotonic()) from None
            child = Child(process, self.on_list_changed, self.on_resource_updated, options.isolation in ("shared", "principal"))
        self._watch(child)
        try:
            info = await child.handshake(options.handshake_seconds, self.modern_hint)
        except asyncio.CancelledError:
            self._spawn(child.stop("stopped (its caller went away during the handshake)", 0.5))
            raise
        except HandshakeFailed as failure:
            await child.stop(f"handshake failed: {failure}", 0.5)
            # A process that died on `server/discover` may be a 2025 server that does; a remote that could not be
            # reached says nothing of its era (a 2025 remote answers discover with an error, and initialize follows).
            if options.remote is None and self.modern_hint is None and not child.process.alive \
                    and time.monotonic() - child.process.started < options.handshake_seconds:
                self.modern_hint = False  # it died on `server/discover`: some 2025 servers do; try `initialize` next
                log.info("bridge %s: the child ended on server/discover; the next start goes straight to initialize", options.name)
            self._crashed()
            raise BridgeUnavailable(f"it did not complete its handshake ({failure})", self.next_start - time.monotonic()) from None
        if self.closing:  # shutdown began during the handshake: this child must not outlive it
            await child.stop("stopped (the server is shutting down)", 0.5)
            raise BridgeUnavailable("the server is shutting down", 1)
        self.modern_hint = info.modern
        self.handshakes += 1
        self.handshake_seconds.observe(time.perf_counter() - started)
        if options.remote is not None:
            log.info("bridge %s: the remote server speaks %s (%s)", options.name, info.version,
                     info.server_info.get("name", "unnamed"))
        else:
            log.info("bridge %s: pid %d speaks %s (%s)", options.name, child.process.pid, info.version,
                     info.server_info.get("name", "unnamed"))
        self.crashes.clear()
        self.next_start = 0.0
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_idle())
        return child

    def _connect(self) -> Child:
        """A link to the remote server in the place of a process (bridge/http/): the same `Child` over HTTP, so the
        handshake, routing, backoff and breaker below are the ones every child has. The bridge's links share one
        `RemoteConnection` (its HTTP connections and credentials), made with the first."""
        from bosun.bridge.http.connection import RemoteConnection  # a bridge of commands never loads httpx
        from bosun.bridge.http.credentials import CredentialsFailed
        from bosun.bridge.http.endpoint import RemoteEndpoint
        from bosun.bridge.http.link import HttpUpstream
        from bosun.bridge.rpc import OnNotification, OnRequest

        connection = self._remote
        if connection is None:
            connection = self._remote = RemoteConnection(self.options, lambda: self.closing)
        endpoint = RemoteEndpoint(self.options.name, connection.shown_url())
        remote = connection

        def link(on_request: OnRequest, on_notification: OnNotification) -> HttpUpstream:
            return HttpUpstream(remote, endpoint, on_request, on_notification, self.options.max_line_bytes)

        try:
            return Child(endpoint, self.on_list_changed, self.on_resource_updated,
                         self.options.isolation in ("shared", "principal"), link)
        except CredentialsFailed as failure:  # a secret file gone since the start
            self._crashed()
            raise BridgeUnavailable(str(failure), self.next_start - time.monotonic()) from None

    def _crashed(self) -> None:
        now = time.monotonic()
        self.crashes = [at for at in self.crashes if now - at < _CRASH_WINDOW] + [now]
        self.restarts += 1
        options = self.options
        backoff = min(options.backoff_max, options.backoff_initial * 2 ** (len(self.crashes) - 1))
        if len(self.crashes) >= options.crash_loop:
            backoff = max(backoff, options.backoff_max)
        self.next_start = now + backoff * random.uniform(0.8, 1.2)

    def _spawn(self, work: Any) -> None:
        """Run `work` in the background, kept referenced until it is done."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _watch(self, child: Child) -> None:
        """From its start until its exit, a child is in `running`; when it exits on its own, its calls fail at
        once (the upstream closes), its leftovers are killed (`ChildProcess.wait`) and it leaves the pool."""
        self.running.add(child)

        async def watch() -> None:
            try:
                code = await child.process.exited()
                child.upstream.close(f"it exited with code {code}")  # first: its callers learn it at once
                for key, held in list(self.children.items()):
                    if held is child:
                        self._forget(key, child)
                await child.process.wait()  # its leftovers killed, its exit logged
            finally:
                self.running.discard(child)

        self._spawn(watch())

    async def _reap_idle(self) -> None:
        idle = self.options.idle_seconds
        while self.children and not self.closing:
            await asyncio.sleep(min(1.0, idle / 2) if idle > 0 else 1.0)
            if idle <= 0:
                continue
            now = time.monotonic()
            keep = self.options.warm if self.options.isolation == "shared" else 0
            for key, child in list(self.children.items()):
                if len(self.children) <= keep:
                    break
                if not child.busy and now - child.last_active > idle:
                    self.children.pop(key, None)
                    self.owners.pop(key, None)
                    log.info("bridge %s: %s idle for %gs; stopping it", self.options.name, child.process.label, idle)
                    self._spawn(child.stop(f"stopped (idle for {idle:g}s)"))  # one slow stop holds up no other

    async def release(self, key: str) -> None:
        """Stop the child held for `key` (a session ended, or the call a child was started for is done)."""
        child = self.children.pop(key, None)
        self.owners.pop(key, None)
        if child is not None:
            await child.stop("stopped (its call ended)" if key.startswith("r:") else "stopped (its session ended)")

    async def close(self) -> None:
        """Stop every child this pool started that has not exited yet: in the pool, starting, or stopping."""
        self.closing = True
        if self._reaper is not None:
            self._reaper.cancel()
        children = set(self.children.values()) | self.running
        self.children.clear()
        with contextlib.suppress(Exception):
            await asyncio.gather(*(child.stop("stopped (the server is shutting down)") for child in children))
