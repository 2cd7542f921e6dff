"""A bridge: one stdio MCP server's command behind Bosun's whole surface, for clients of both eras.

The bridge is a catalog source (`app.sources.CatalogSource`): before a list, or when a name is not
known, the handlers ask it to make sure the registry holds the child's items as they are now. It
loads them from a child once, and again only after the child says a list changed. Its items
(`items.py`) forward to `forward`, which picks the child for the caller's isolation key, sends the
request with an id and progress token Bosun minted, and follows the call (`calls.py`) until the
child answers, routing the child's questions to the client in the client's own era.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from bosun.app.context import Context
from bosun.app.inputs import InputRequired
from bosun.app.registry import Registry
from bosun.bridge import listing
from bosun.bridge.calls import ForwardedCall, ParkedCalls
from bosun.bridge.child import Child
from bosun.bridge.handshake import MODERN, inbound, outbound_meta
from bosun.bridge.holder import Holder
from bosun.bridge.naming import Naming
from bosun.bridge.options import BridgeOptions
from bosun.bridge.pool import ChildPool
from bosun.bridge.remote import RemoteCall
from bosun.ops.metrics_core import Histogram
from bosun.protocol.call import Call
from bosun.protocol.changes import ChangeHub
from bosun.protocol.errors import INTERNAL_ERROR, INVALID_PARAMS, McpError
from bosun.state.relay.memory import LocalRelay
from bosun.state.relay.relay import CallRelay

log = logging.getLogger("bosun.bridge")


class Bridge:
    def __init__(self, options: BridgeOptions, registry: Registry, hub: ChangeHub) -> None:
        self.options = options
        self.name = options.name
        self.naming = Naming(options.prefix)
        self.degraded: str | None = None
        """Why this server is left out of lists now (down, crash-looping, too slow), or None."""
        self.registry = registry
        self.hub = hub
        environment, secret_values = options.child_environment()
        self.pool = ChildPool(options, environment, secret_values, self._list_changed, self._resource_updated)
        self.parked = ParkedCalls(options.park_seconds)
        self.stale = True
        self._loading = asyncio.Lock()
        self._watched: set[str] = set()  # session keys whose end stops their child
        self.relay: CallRelay = LocalRelay()
        self.in_flight = 0
        self.call_seconds = Histogram()
        self.outcomes: dict[str, int] = {}  # ok, error (an isError result), input_required, unavailable, exception
        self.subscribed: set[str] = set()  # URIs the shared child was asked to send updates of
        self._subscribed_child: Child | None = None
        self._syncing: asyncio.Future[None] | None = None
        self._resync = False
        self._watcher: asyncio.Task[None] | None = None
        self._recovering: asyncio.Future[None] | None = None
        hub.watch(self._interest)
        self.holder = Holder(options, self.pool, self.parked, self._outgoing)

    # Keys: which child serves a caller.
    def key(self, call: Call) -> tuple[str, str]:
        """(pool key, owner): the owner is the principal, whose children count against its cap."""
        owner = call.principal.key if call.principal is not None else ""
        isolation = self.options.isolation
        if isolation == "shared":
            return "shared", owner
        if isolation == "principal":
            return f"p:{owner}", owner
        session_id = getattr(call.channel, "id", None) if isolation == "session" else None
        if type(session_id) is str:
            return f"s:{session_id}", owner
        return f"r:{secrets.token_hex(8)}", owner  # a call of its own: `request`, or a stateless client of a session bridge

    def scopes(self, name: str) -> tuple[str, ...]:
        """The scopes the operator set for one of the child's items (by its own name), or those for "*"."""
        scopes = self.options.tool_scopes
        return scopes.get(name, scopes.get("*", ()))

    # The catalog.
    async def refresh(self, call: Call) -> None:
        if not self.stale:
            return
        async with self._loading:
            if not self.stale:
                return
            key, owner = self.key(call)
            if key.startswith("s:"):  # a session's child lives where its calls go (maybe another replica): ask a fresh one
                key = f"r:{secrets.token_hex(8)}"
            try:
                child = await self.pool.acquire(key, owner)
                try:
                    self.stale = False  # a list_changed that arrives while loading marks it stale again
                    lists = await listing.load(child, self.name, self.options.handshake_seconds)
                finally:
                    if key.startswith("r:"):
                        await self.pool.release(key)
            except BaseException as failure:
                self.stale = True
                self.degraded = _why(failure)
                raise
            self.degraded = None
            listing.install(self, lists)

    def withdraw(self, why: str) -> None:
        """Leave this server out of lists until it answers again (it is down, restarting, or too slow), and try it
        again in the background: it comes back without waiting for a client to name it."""
        self.degraded = why
        self.stale = True
        listing.withdraw(self)
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        """Load the lists again once the backoff allows (at most every second); when they load, the clients are
        told their lists changed. Ends when the server is back, or at shutdown."""
        while self.degraded is not None and not self.pool.closing:
            await asyncio.sleep(max(1.0, self.pool.next_start - time.monotonic()))
            if self.degraded is None or self.pool.closing:
                return
            try:
                await self.refresh(Call(None, "tools/list", {}, MODERN, True, {}, None))
            except Exception:
                continue  # refresh said why (self.degraded); the pool counted the crash and set the next start
            for kind in ("tools", "prompts", "resources"):
                self.hub.deliver(kind)
            log.info("bridge %s: answering again; back in the lists", self.name)

    def _list_changed(self, kind: str) -> None:
        """To this replica's streams only: every replica's children say so to their own replica."""
        self.stale = True
        self.hub.deliver(kind)

    def _resource_updated(self, uri: str) -> None:
        """A shared child's update goes to the streams here that want it (each replica subscribes its own child
        for its own streams). A per-principal or per-session child's update is not any stream's business that
        the hub can tell apart, so it is not sent (docs/bridge.md)."""
        if self.options.isolation == "shared":
            self.hub.deliver("resource", self.naming.uri(uri))

    # Upstream subscriptions: what this replica's streams want of a shared child, and no more.
    def _interest(self) -> asyncio.Future[None] | None:
        """Bring the upstream subscriptions in line with what streams want; what is returned is done once they are."""
        self._resync = True
        if self.options.isolation != "shared":
            return None
        if self._syncing is None or self._syncing.done():
            self._syncing = asyncio.ensure_future(self._sync_subscriptions())
        return self._syncing

    def _owns(self, uri: str) -> bool:
        found = self.registry.find_resource(uri)
        return found is not None and getattr(found[0], "bridge", None) is self

    async def _sync_subscriptions(self) -> None:
        while self._resync:
            self._resync = False
            child = self.pool.children.get("shared")
            offered = child.info.capabilities.get("resources") if child is not None and child.info is not None else None
            if child is None or not child.alive or type(offered) is not dict or not offered.get("subscribe"):
                return
            if child is not self._subscribed_child:  # a new child (a restart): it knows none of them
                self._subscribed_child, self.subscribed = child, set()
            wanted = {uri for uri in self.hub.wanted_uris() if self._owns(uri)}
            meta = {"_meta": outbound_meta({}, True, None)} if child.info is not None and child.info.modern else {}
            for method, uris in (("resources/subscribe", wanted - self.subscribed),
                                 ("resources/unsubscribe", self.subscribed - wanted)):
                for uri in uris:
                    try:
                        upstream = self.naming.upstream_uri(uri) or uri  # the set holds the URIs clients know
                        await child.request(method, {"uri": upstream, **meta}, self.options.handshake_seconds)
                    except McpError as failure:
                        log.warning("bridge %s: %s %s failed: %s", self.name, method, uri[:200], failure.message)
                        continue
                    if method == "resources/subscribe":
                        self.subscribed.add(uri)
                    else:
                        self.subscribed.discard(uri)

    async def _watch_interest(self) -> None:
        """Streams on other replicas change this replica's sessions' subscriptions too: look again every second."""
        while True:
            await asyncio.sleep(1.0)
            if self.subscribed or self.hub.wanted_uris():
                self._interest()

    # Calls.
    def _outgoing(self, child: Child, params: dict[str, Any], client_meta: dict[str, Any], state: str | None,
                  responses: Any) -> dict[str, Any]:
        """The request for the child: the client's reserved `_meta` replaced by the child's hop, and a 2026 child's
        own `requestState` and the client's answers handed back to it."""
        assert child.info is not None
        outgoing = dict(params)
        token = client_meta.get("progressToken")
        outgoing["_meta"] = outbound_meta(client_meta, child.info.modern, "-" if token is not None else None)
        if state is not None and state.startswith("child:"):
            outgoing["requestState"] = state[6:].partition(":")[2]  # "child:<replica>:<the child's own state>"
        if responses is not None and child.info.modern:
            outgoing["inputResponses"] = responses
        return outgoing

    def _remote(self, holder: str, call_id: str, call: Call) -> RemoteCall:
        remote = RemoteCall(self.relay, holder, call_id)
        remote.send = call.send
        remote.client_token = call.meta.get("progressToken")
        self.holder.following[call_id] = remote
        return remote

    async def forward(self, method: str, params: dict[str, Any], ctx: Context | None) -> dict[str, Any]:
        """One call through the bridge, counted for the metrics: in flight, and how it ended."""
        self.in_flight += 1
        outcome = "exception"
        started = time.perf_counter()
        try:
            result = await self._forward(method, params, ctx)
            outcome = "error" if result.get("isError") else "ok"
            self.degraded = None  # it answers (a server whose list failed once and no list has been asked since)
            return result
        except InputRequired:
            outcome = "input_required"
            raise
        except McpError as failure:
            outcome = "unavailable" if failure.http_status == 503 else "exception"
            raise
        finally:
            self.in_flight -= 1
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            self.call_seconds.observe(time.perf_counter() - started)

    async def _forward(self, method: str, params: dict[str, Any], ctx: Context | None) -> dict[str, Any]:
        if ctx is None:
            raise McpError(INTERNAL_ERROR, "a bridged item was called without its context")
        call = ctx.call
        state = ctx.request_state
        relay = self.relay
        if state is not None and state.startswith("park:"):
            holder, _, call_id = state[5:].partition(":")
            if holder != relay.replica:  # parked on another replica: resume it there, follow it here
                remote = self._remote(holder, call_id, call)
                await remote.start({"t": "attach", "responses": ctx.input_responses or {}})
                return await self._follow(remote, call)
            parked = self.parked.take(call_id)
            if parked is None:
                raise McpError(INVALID_PARAMS, "This call is no longer waiting for your answer: it waited longer than "
                               f"{self.options.park_seconds:g}s, or the replica holding it stopped; make the call again")
            parked.answer(ctx.input_responses or {})
            return await self._follow(parked, call)
        key, owner = self.key(call)
        holder = relay.replica
        if state is not None and state.startswith("child:"):  # a 2026 child's own round trip: back to that child
            holder = state[6:].partition(":")[0]
        elif key.startswith("s:"):
            holder = await relay.claim(key)
        if holder != relay.replica:  # the child this call needs lives on another replica
            remote = self._remote(holder, secrets.token_urlsafe(18), call)
            await remote.start({"t": "start", "key": key, "owner": owner, "method": method, "params": params,
                                "meta": call.meta, "capabilities": call.capabilities, "modern": call.modern,
                                "progress": "progressToken" in call.meta, "state": state, "responses": ctx.input_responses})
            return await self._follow(remote, call)
        if key.startswith("s:"):
            self._stop_with_session(call, key)
        child = await self.pool.acquire(key, owner)
        outgoing = self._outgoing(child, params, call.meta, state, ctx.input_responses)
        forwarded = ForwardedCall(call.capabilities, call.meta.get("progressToken"), call.send, self.options.answer_seconds)
        forwarded.start(lambda: child.forward(method, outgoing, forwarded, self.options.call_seconds))
        if key.startswith("r:") and forwarded.task is not None:
            forwarded.task.add_done_callback(lambda _: asyncio.ensure_future(self.pool.release(key)))
        return await self._follow(forwarded, call)

    async def _follow(self, forwarded: ForwardedCall | RemoteCall, call: Call) -> dict[str, Any]:
        """Wait for the call's next event: its answer, its failure, or a question for the client."""
        while True:
            try:
                kind, value, request = await forwarded.events.get()
            except asyncio.CancelledError:
                if forwarded.parked_until == 0.0:
                    forwarded.cancel()
                raise
            if kind == "done":
                result = inbound(value)
                if result.get("resultType") == "input_required":  # a 2026-07-28 child's own multi round-trip
                    child_state = result.get("requestState")
                    requests = result.get("inputRequests")
                    # Only the child that sealed it can open it: the state names its replica, and the retry goes there.
                    holder = forwarded.holder if isinstance(forwarded, RemoteCall) else self.relay.replica
                    raise InputRequired(requests if type(requests) is dict else {},
                                        state=f"child:{holder}:{child_state}" if type(child_state) is str else None)
                return result
            if kind == "failed":
                if isinstance(value, McpError):
                    raise value
                raise McpError(INTERNAL_ERROR, "The bridged call failed") from value
            if call.modern:
                if isinstance(forwarded, RemoteCall):  # the holder parked it there; a retry follows it anew
                    self.holder.following.pop(forwarded.id, None)
                    raise InputRequired({value: request}, state=f"park:{forwarded.holder}:{forwarded.id}")
                self.parked.hold(forwarded)
                raise InputRequired({value: request}, state=f"park:{self.relay.replica}:{forwarded.id}")
            if call.channel is None or call.send is None:
                forwarded.refuse(value, McpError(INTERNAL_ERROR, "The client has no session to answer on"))
                continue
            try:
                answer = await call.channel.request(request["method"], request["params"], call.send)
            except McpError as failure:
                forwarded.refuse(value, failure)
                continue
            except asyncio.CancelledError:
                forwarded.cancel()
                raise
            forwarded.answer({value: answer})

    def _stop_with_session(self, call: Call, key: str) -> None:
        """A session's child ends with the session (DELETE, expiry, eviction), not only when idle."""
        closers = getattr(call.channel, "closers", None)
        if type(closers) is list and key not in self._watched:
            self._watched.add(key)

            def ended() -> None:
                self._watched.discard(key)
                asyncio.ensure_future(self._release(key))

            closers.append(ended)

    async def _release(self, key: str) -> None:
        await self.pool.release(key)
        await self.relay.release(key)

    # Life cycle.
    async def use_relay(self, relay: CallRelay) -> None:
        """Reach the other replicas through `relay` (with Redis); by default this process is the only one."""
        self.relay = relay
        self.holder.relay = relay
        await relay.start(self.holder.received)
        if self.options.isolation == "shared":
            self._watcher = asyncio.create_task(self._watch_interest())

    async def warm_up(self) -> None:
        """Start the warm children (shared: the child) and load the catalog; /ready waits for this. An optional
        server that fails here is left degraded (its tools out of lists) and the server starts without it."""
        if not self.options.warm:
            return
        try:
            if self.options.isolation == "shared":
                await self.pool.acquire("shared", "")
            await self.refresh(Call(None, "tools/list", {}, MODERN, True, {}, None))
        except Exception as failure:
            if self.options.required:
                raise
            self.withdraw(_why(failure))
            log.warning("bridge %s: not started (%s); serving without it until it answers", self.name, self.degraded)

    def state(self) -> str:
        """crash-looping, degraded (left out of lists), up, backing-off, or idle (no child running now)."""
        pooled = self.pool.state()
        if pooled == "crash-looping":
            return pooled
        return "degraded" if self.degraded is not None else pooled

    def ready(self) -> tuple[bool, str]:
        """For /ready: a required server whose crash-loop breaker is open makes the replica unready (one failed
        start does not: it is retried with backoff); an optional one (a gateway's backend) only shows its state."""
        state = self.state()
        detail = f"{state}, {self.pool.live()} children, {self.pool.restarts} restarts"
        if self.degraded is not None:
            detail += f": {self.degraded}"
        if not self.options.required:
            detail += " (optional)"
        return not self.options.required or state != "crash-looping", detail

    async def close(self) -> None:
        for task in (self._watcher, self._recovering):
            if task is not None:
                task.cancel()
        self.parked.close()
        await self.pool.close()
        await self.relay.close()


def _why(failure: BaseException) -> str:
    if isinstance(failure, McpError):
        return failure.message
    if isinstance(failure, asyncio.CancelledError):
        return "its list was not loaded (the request asking for it ended)"
    return f"loading its lists failed ({type(failure).__name__})"
