"""The ASGI application: routes each HTTP request to the right protocol era.

Era selection follows the spec's dual-era rules: `initialize` (without a modern
version header) or an `Mcp-Session-Id` opens or continues a 2025 session; every
other POST is read as a 2026-07-28 stateless request, which then validates its
own headers and `_meta`. GET and DELETE exist only for sessions; without one they
are 405, as a modern-only server answers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bosun.app.handlers import Handlers
from bosun.asgi import JSON_HEADERS, Exchange, reject, respond, respond_error
from bosun.ops.heap import freeze_heap
from bosun.ops.logs import request_id as request_id_var
from bosun.ops.requestid import request_id_for
from bosun.protocol.call import META_PROTOCOL_VERSION
from bosun.protocol.changes import ChangeHub
from bosun.protocol.errors import INVALID_REQUEST, McpError
from bosun.protocol.jsonrpc import decode, error_bytes, parse_cost
from bosun.protocol.observe import Observer
from bosun.protocol.principal import Principal
from bosun.protocol.versions import is_legacy, is_modern
from bosun.security.challenge import Refusal
from bosun.security.gate import Gate
from bosun.state.events.memory import MemoryEventStore
from bosun.state.events.store import EventStore
from bosun.state.sessions.memory import MemorySessionStore
from bosun.state.sessions.store import SessionStore
from bosun.transport.http.budget import MemoryBudget
from bosun.transport.http.guards import Guard
from bosun.transport.http.legacy import LegacyEndpoint
from bosun.transport.http.modern import ModernEndpoint
from bosun.transport.http.options import HttpOptions, is_loopback
from bosun.transport.http.wire import BodyTooLarge, ClientGone, Headers, accepts, read_body
from bosun.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("bosun.transport")
Hook = Callable[[], Awaitable[None]]
_ALLOW = ((b"allow", b"GET, POST, DELETE"),)
_LONGEST_METHOD = 64  # the longest MCP method is 24 characters; an extension's name fits too
_RETRY_SOON = ((b"retry-after", b"1"),)
_OPEN_OFF_LOOPBACK = ("Forbidden: this server runs without authentication and answers loopback clients only; "
                      "configure authentication (BOSUN_AUTH_*) or set BOSUN_AUTH=none (docs/security.md)")


def _wants_legacy(message: Any, headers: Headers) -> bool:
    header_version = headers.get(b"mcp-protocol-version")
    if header_version is not None and is_modern(header_version):
        return False
    if type(message) is list:
        return headers.get(b"mcp-session-id") is not None
    if type(message) is not dict:
        return False
    if message.get("method") == "initialize":
        return True
    params = message.get("params")
    if type(params) is dict and type(params.get("_meta")) is dict and META_PROTOCOL_VERSION in params["_meta"]:
        return False
    if headers.get(b"mcp-session-id") is not None:
        return True
    return header_version is not None and is_legacy(header_version)


def _local(scope: Scope) -> bool:
    """Whether the connection arrived on a loopback address (or a Unix socket) of this host."""
    server = scope.get("server")
    return server is None or server[1] is None or is_loopback(str(server[0]))


def _method_label(message: Any) -> str:
    """What the metrics and the trace's span name call a request. The metrics map names outside the MCP
    method set to `other`; here a method that is not a short string becomes `invalid`/`other` before
    anything hashes, formats or exports it (a client may send a 1 MiB method name, or an object)."""
    if type(message) is dict:
        method = message.get("method")
        if method is None:
            return "response"
        if "id" not in message:
            return "notification"
        if type(method) is not str:
            return "invalid"
        return method if len(method) <= _LONGEST_METHOD else "other"
    return "batch" if type(message) is list else "invalid"


class McpApp:
    """Serves the MCP endpoint at `options.path`, plus any extra `routes` (ops endpoints plug in here)."""

    def __init__(self, handlers: Handlers, options: HttpOptions, store: SessionStore | None = None,
                 hub: ChangeHub | None = None, routes: dict[str, ASGIApp] | None = None,
                 on_startup: list[Hook] | None = None, on_shutdown: list[Hook] | None = None,
                 observer: Observer | None = None, tracing: Any = None, gate: Gate | None = None,
                 open_on_purpose: bool = False, events: EventStore | None = None, request_ids: bool = True) -> None:
        self.tracing = tracing
        # X-Request-Id for every HTTP request (off when outer middleware does it: bosun.ops.requestid).
        self.request_ids = request_ids
        self.gate = gate
        self.authenticating = gate is not None and gate.enabled
        # Open by default only on loopback: if this app is mounted behind a listener on another address
        # (not through `bosun serve`, which refuses to start that way), requests from there are refused.
        self.loopback_only = not self.authenticating and not open_on_purpose
        self.options = options
        self.path = options.path
        self.guard = Guard(options)
        self.budget = MemoryBudget(options.request_memory_bytes)
        self.hub = hub if hub is not None else ChangeHub()
        if store is None:
            store = MemorySessionStore(options.session_idle_seconds, options.client_request_timeout, options.max_sessions,
                                       observer, options.max_sessions_per_client)
        self.store = store
        self.observer = observer
        self.modern = ModernEndpoint(handlers, self.hub, options.keepalive_seconds, observer, options.max_streams)
        self.legacy = LegacyEndpoint(handlers, self.hub, self.store, options.keepalive_seconds, observer, gate,
                                     options.max_streams, options.max_batch, events if events is not None else MemoryEventStore())
        self.routes = routes or {}
        self.on_startup = on_startup or []
        self.on_shutdown = on_shutdown or []
        self._sweeper: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self.lifespan(receive, send)
            return
        token = header = None
        if self.request_ids:
            text, header = request_id_for(scope["headers"])
            token = request_id_var.set(text)
        exchange = Exchange(send, header)
        try:
            path = scope["path"]
            root = scope.get("root_path")
            if root and path.startswith(root):  # mounted under a prefix, or behind a proxy's --root-path
                path = path[len(root):] or "/"
            if path == self.path or path == self.path + "/":
                await self.endpoint(scope, receive, exchange)
                return
            route = self.routes.get(path)
            if route is not None:
                await route(scope, receive, exchange.send)
                return
            await reject(exchange.send, 404, f"Not Found: the MCP endpoint is {root or ''}{self.path}")
        finally:
            if token is not None:
                request_id_var.reset(token)

    async def endpoint(self, scope: Scope, receive: Receive, exchange: Exchange) -> None:
        send = exchange.send
        headers = Headers(scope)
        if headers.repeated is not None:
            await self._twice(send, headers.repeated, scope)
            return
        host = headers.get(b"host")
        problem = self.guard.check_host(host)
        if problem is not None:
            await self._refuse(send, 421, problem)
            return
        problem = self.guard.check_origin(headers.get(b"origin"), host)
        if problem is not None:
            await self._refuse(send, 403, problem)
            return
        principal: Principal | None = None
        method = scope["method"]
        if self.authenticating and method != "OPTIONS":  # a CORS preflight never carries credentials
            gate: Gate = self.gate  # type: ignore[assignment]
            authorization = headers.get(b"authorization")
            principal = gate.remembered(authorization)
            if principal is None:
                try:
                    client = scope.get("client")
                    principal = await gate.authenticate(authorization, headers.get(b"x-api-key"), client[0] if client else None)
                except Refusal as refusal:
                    await self._refused(send, refusal)
                    return
        elif self.loopback_only and not _local(scope):
            await self._refuse(send, 403, _OPEN_OFF_LOOPBACK)
            return
        if method == "POST":
            await self.post(receive, exchange, headers, principal, scope)
        elif method == "GET" and headers.get(b"mcp-session-id") is not None:
            await self.legacy.get(receive, send, headers, principal)
        elif method == "DELETE" and headers.get(b"mcp-session-id") is not None:
            await self.legacy.delete(send, headers, principal)
        else:
            await self._refuse(send, 405, f"Method Not Allowed: {method} needs a 2025 session; send requests as POST", _ALLOW)

    async def post(self, receive: Receive, exchange: Exchange, headers: Headers, principal: Principal | None, scope: Scope) -> None:
        send = exchange.send
        content_type = headers.get(b"content-type")
        if content_type is None or not content_type.lower().startswith("application/json"):
            await self._refuse(send, 415, "Unsupported Media Type: send Content-Type: application/json")
            return
        if not accepts(headers.get(b"accept"), json=True, sse=True):
            await self._refuse(send, 406, "Not Acceptable: Accept must list application/json and text/event-stream")
            return
        try:
            body = await read_body(receive, self.options.max_body_bytes, headers.get(b"content-length"))
        except BodyTooLarge:
            await self._refuse(send, 413, f"Payload Too Large: the limit is {self.options.max_body_bytes} bytes (BOSUN_MAX_BODY_BYTES)")
            return
        except ClientGone:
            return
        cost = parse_cost(body)
        if not self.budget.take(cost):
            if cost > self.budget.total:
                await self._refuse(send, 413, f"Payload Too Large: decoding this body would take about {cost >> 20} MiB; "
                                              f"the limit is {self.budget.total >> 20} MiB (BOSUN_REQUEST_MEMORY)")
            else:
                await self._refuse(send, 503, "Service Unavailable: busy with large requests; retry shortly", _RETRY_SOON)
            return
        try:
            try:
                message = decode(body)
            except McpError as error:
                if self.observer is not None:
                    self.observer.error(error.code)
                    self.observer.request("invalid", error.http_status, 0.0)
                await respond_error(send, error.http_status, error)
                return
            del body  # decoded once; the bytes are not kept alongside the objects
            client = scope.get("client")
            peer = client[0] if client else None
            if self.gate is not None:
                try:
                    messages = message if type(message) is list else (message,)
                    buckets = self.gate.admit(principal, messages, peer)
                    if buckets and not self.gate.charged(buckets, principal, messages, peer):
                        await self.gate.charge(buckets, principal, messages, peer)
                except Refusal as refusal:
                    await self._refused(send, refusal, message)
                    return
            endpoint = self.legacy if _wants_legacy(message, headers) else self.modern
            if self.tracing is not None:
                with self.tracing.request(_method_label(message), message, headers.get(b"traceparent")):
                    await self._observed(endpoint, receive, exchange, headers, message, principal, peer)
                return
            await self._observed(endpoint, receive, exchange, headers, message, principal, peer)
        finally:
            self.budget.give(cost)

    async def _refuse(self, send: Send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """A transport-level refusal, counted (a spike of 403s or 413s is worth seeing) and answered."""
        if self.observer is not None:
            self.observer.request("invalid", status, 0.0)
        await reject(send, status, message, headers)

    async def _twice(self, send: Send, name: str, scope: Scope) -> None:
        """A header that must come once came twice (`wire.SINGLE`): 400, whichever copy the caller meant.

        Two credentials are refused like any other bad credential, counted and audited, with the
        `invalid_request` of RFC 6750 3.1 ("repeats the same parameter"), rather than letting the last one win.
        """
        description = f"The request has more than one {name} header"
        if self.authenticating and name in ("authorization", "x-api-key"):
            gate: Gate = self.gate  # type: ignore[assignment]
            challenge = f'Bearer error="invalid_request", error_description="{description}"'.encode()
            error = McpError(INVALID_REQUEST, f"Bad Request: {description}",
                             {"error": "invalid_request", "error_description": description})
            client = scope.get("client")
            refusal = gate.refuse(Refusal(400, "invalid_request", error, ((b"www-authenticate", challenge),)),
                                  peer=client[0] if client else None)
            await self._refused(send, refusal)
            return
        await self._refuse(send, 400, f"Bad Request: {description}")

    async def _refused(self, send: Send, refusal: Refusal, message: Any = None) -> None:
        """A security refusal: its status, challenge and JSON-RPC error (with the request's id when there is one)."""
        if self.observer is not None:
            self.observer.request(_method_label(message) if message is not None else "invalid", refusal.status, 0.0)
        request_id = message.get("id") if type(message) is dict else None
        body = error_bytes(request_id if type(request_id) in (int, str) else None, refusal.error)
        await respond(send, refusal.status, body, JSON_HEADERS + refusal.headers)

    async def _observed(self, endpoint: LegacyEndpoint | ModernEndpoint, receive: Receive, exchange: Exchange,
                        headers: Headers, message: Any, principal: Principal | None, peer: str | None) -> None:
        observer = self.observer
        if observer is None:
            await endpoint.post(receive, exchange.send, headers, message, principal, peer)
            return
        started = time.perf_counter()
        observer.inflight(1)
        try:
            await endpoint.post(receive, exchange.send, headers, message, principal, peer)
        finally:
            observer.inflight(-1)
            observer.request(_method_label(message), exchange.status, time.perf_counter() - started)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                    freeze_heap()  # this app owns the process's lifespan: a mounted one leaves the host's heap alone
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """The start-up hooks, then the security layer and the session sweeper (a host app's lifespan calls this
        when the app is mounted, since a mount receives no lifespan events of its own)."""
        for hook in self.on_startup:
            await hook()
        if self.gate is not None:
            await self.gate.start()
        self._sweeper = asyncio.create_task(self._sweep())

    async def shutdown(self) -> None:
        """Close streams and sessions, then run the shutdown hooks; a failing hook does not stop the others."""
        await self.close()
        for hook in self.on_shutdown:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")

    def close_streams(self) -> None:
        """End long-lived streams properly (a listen stream gets its closing response)."""
        self.modern.closing.set()
        self.legacy.closing.set()

    async def close(self) -> None:
        """End open streams gracefully and drop sessions."""
        self.close_streams()
        if self._sweeper is not None:
            self._sweeper.cancel()
        closer = getattr(self.store, "close", None)
        if closer is not None:
            await closer()
        if self.gate is not None:
            with contextlib.suppress(Exception):
                await self.gate.close()

    async def _sweep(self) -> None:
        interval = max(1.0, min(60.0, self.options.session_idle_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.store.expire()
            except Exception:
                log.exception("session expiry failed")
