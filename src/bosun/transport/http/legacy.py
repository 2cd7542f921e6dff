"""The 2025-era endpoint (2025-03-26, 2025-06-18, 2025-11-25): sessions over Streamable HTTP.

`initialize` opens a session and returns its `Mcp-Session-Id`; later POSTs carry
it; GET opens the session's stream for change notifications; DELETE ends it.
Requests to the client (sampling, elicitation, roots) go out on the stream of the
POST they belong to, and the client's answers come back as POSTs of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from bosun.app.handlers import Handlers
from bosun.asgi import JSON_HEADERS, reject, respond, respond_store_error, too_many_streams
from bosun.ops.logs import Throttled
from bosun.ops.logs import request_id as request_id_var
from bosun.protocol.call import Call, requested_level
from bosun.protocol.changes import LIST_CHANGED_METHOD, ChangeHub, Listener
from bosun.protocol.errors import INVALID_REQUEST, McpError, bounded, internal_error, invalid_params, method_not_found
from bosun.protocol.jsonrpc import classify, error_bytes, error_message, response_id, result_bytes, valid_id
from bosun.protocol.observe import Observer
from bosun.protocol.principal import Principal
from bosun.protocol.versions import BATCHING_VERSIONS, DEFAULT_HEADERLESS_VERSION, is_legacy, negotiate_legacy
from bosun.security.gate import Gate
from bosun.state.events.store import EventStore
from bosun.state.sessions.session import Session
from bosun.state.sessions.store import SessionRelay, SessionStore
from bosun.transport.http.resumable import RESUMABLE_VERSIONS, ResumableReply, prefers_stream, resume
from bosun.transport.http.sse import SSE_HEADERS, Reply, pump_changes, retry_after, sse_event
from bosun.transport.http.wire import Headers, accepts
from bosun.types import Receive, Send

log = logging.getLogger("bosun.transport")
_unmatched = Throttled(log)


def _session_header(session: Session) -> tuple[tuple[bytes, bytes], ...]:
    return ((b"mcp-session-id", session.id.encode()),)


class LegacyEndpoint:
    def __init__(self, handlers: Handlers, hub: ChangeHub, store: SessionStore, keepalive_seconds: float,
                 observer: Observer | None = None, gate: Gate | None = None, max_streams: int = 500,
                 max_batch: int = 100, events: EventStore | None = None, retry_ms: int = 1000) -> None:
        self.observer = observer
        self.events = events
        self.retry_ms = retry_ms
        self.relay: SessionRelay | None = None  # the change bus, when sessions span replicas
        self.gate = gate
        self.max_streams = max_streams
        self.max_batch = max_batch
        self.handlers = handlers
        self.table = {**handlers.legacy, "ping": self.ping, "logging/setLevel": self.set_level,
                      "resources/subscribe": self.subscribe, "resources/unsubscribe": self.unsubscribe}
        self.hub = hub
        self.store = store
        self.keepalive = keepalive_seconds
        self.closing = asyncio.Event()

    # POST.
    async def post(self, receive: Receive, send: Send, headers: Headers, message: Any, principal: Principal | None = None,
                   peer: str | None = None) -> None:
        if type(message) is dict and message.get("method") == "initialize":
            await self.initialize(send, headers, message, principal, peer)
            return
        request_id = response_id(message)  # None for a batch: no one id answers for all of it
        session = await self._session(send, headers, principal, request_id)
        if session is None:
            return
        if type(message) is list:
            if session.version not in BATCHING_VERSIONS:
                await reject(send, 400, f"JSON-RPC batches are not supported in protocol {session.version}")
                return
            if not message:
                await reject(send, 400, "Invalid Request: empty batch")
                return
            if len(message) > self.max_batch:
                await reject(send, 400, f"Invalid Request: a batch of {len(message)} items; at most {self.max_batch} (BOSUN_MAX_BATCH)")
                return
            await self.batch(receive, send, session, message, principal)
            return
        try:
            kind = classify(message)
        except McpError as error:
            await reject(send, 400, error.message, request_id=request_id)
            return
        if kind == "response":
            if not await self._answered(session, message):
                await reject(send, 400, "Bad Request: no request of this server is waiting for this response")
                return
            await respond(send, 202, b"", _session_header(session))
        elif kind == "notification":
            self.notified(session, message)
            await respond(send, 202, b"", _session_header(session))
        else:
            reply = self._reply(send, receive, session, message["id"])
            if isinstance(reply, ResumableReply) and prefers_stream(headers.get(b"accept")):
                await reply.start()
            try:
                status, body = await self.run(session, message, reply, principal)
                await reply.finish(status, body)
            except asyncio.CancelledError:
                if reply.disconnected:
                    return
                task = asyncio.current_task()
                if session.closed and task is not None:  # the session was deleted while this request ran
                    task.uncancel()
                    ended = McpError(INVALID_REQUEST, "Session terminated while this request was in progress")
                    await reply.finish(404, error_bytes(message["id"], ended))
                    return
                if session.cancelled.pop(message["id"], None) is None:
                    raise
                # Cancelled by the client (notifications/cancelled): no JSON-RPC response is due.
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                await reply.finish(202, b"")
            finally:
                reply.close()

    def _reply(self, send: Send, receive: Receive, session: Session, request_id: Any) -> Reply:
        if self.events is not None and session.version in RESUMABLE_VERSIONS:
            return ResumableReply(send, receive, _session_header(session), self.events, session.id, self.retry_ms,
                                  self.observer, request_id)
        return Reply(send, receive, _session_header(session), event_prefix=f"{request_id}", observer=self.observer)

    async def initialize(self, send: Send, headers: Headers, message: dict[str, Any], principal: Principal | None,
                         peer: str | None = None) -> None:
        params = message.get("params") or {}
        request_id = response_id(message)
        try:
            kind = classify(message)
        except McpError as error:
            await reject(send, 400, error.message, request_id=request_id)
            return
        if kind != "request" or type(params) is not dict:
            await reject(send, 400, "Invalid Request: initialize must be a request with params", request_id=request_id)
            return
        version = negotiate_legacy(params.get("protocolVersion"))
        capabilities = params.get("capabilities")
        client_info = params.get("clientInfo")
        try:
            session = await self.store.create(version, capabilities if type(capabilities) is dict else {},
                                              client_info if type(client_info) is dict else None,
                                              principal.key if principal is not None else None,
                                              principal.key if principal is not None else f"peer#{peer or '-'}")
        except McpError as error:
            await respond_store_error(send, error, request_id)
            return
        offered = self.handlers.session_capabilities.get(version, self.handlers.capabilities)
        result: dict[str, Any] = {"protocolVersion": version, "capabilities": offered,
                                  "serverInfo": self.handlers.server_info}
        if self.handlers.instructions:
            result["instructions"] = self.handlers.instructions
        await respond(send, 200, result_bytes(message["id"], result), JSON_HEADERS + _session_header(session))

    async def _session(self, send: Send, headers: Headers, principal: Principal | None,
                       request_id: Any = None) -> Session | None:
        """The session the request names, or None once the refusal (with `request_id`) has been sent."""
        session_id = headers.get(b"mcp-session-id")
        if session_id is None:
            await reject(send, 400, "Bad Request: missing Mcp-Session-Id header; send initialize first", request_id=request_id)
            return None
        try:
            session = await self.store.get(session_id)
        except McpError as error:
            await respond_store_error(send, error, request_id)
            return None
        if session is not None and session.owner != (principal.key if principal is not None else None):
            # Another principal's session: answered exactly as an unknown one, so session ids cannot be probed.
            if self.gate is not None:
                self.gate.session_refused(principal)
            session = None
        if session is None:
            await reject(send, 404, "Session not found or expired; send initialize to start a new one", request_id=request_id)
            return None
        version = headers.get(b"mcp-protocol-version") or DEFAULT_HEADERLESS_VERSION
        if not is_legacy(version):
            await reject(send, 400, f"Bad Request: unsupported MCP-Protocol-Version {bounded(repr(version))} for a session",
                         request_id=request_id)
            return None
        return session

    async def run(self, session: Session, message: dict[str, Any], reply: Reply,
                  principal: Principal | None = None) -> tuple[int, bytes]:
        """Handle one request: the HTTP status (200, or 503 when a dependency asks for a retry) and a JSON-RPC body."""
        request_id = message["id"]
        method = message["method"]
        params = message.get("params") or {}
        handler = self.table.get(method)
        call = Call(request_id, method, params, session.version, False, session.capabilities, reply.message,
                    channel=session, client_info=session.client_info, log_level=session.log_level)
        call.principal = principal
        if isinstance(reply, ResumableReply):
            call.close_stream = reply.close_stream
        session.in_flight[request_id] = asyncio.current_task()  # type: ignore[assignment]
        try:
            if handler is None:
                raise method_not_found(method)
            result = await handler(call)
            return 200, result_bytes(request_id, result)
        except McpError as error:
            if self.observer is not None:
                self.observer.error(error.code)
            reply.retry_after = retry_after(error)
            return 503 if error.http_status == 503 else 200, orjson.dumps(error_message(request_id, error))
        except Exception:
            log.exception("unexpected error in %s", method)
            failure = internal_error(request_id_var.get())
            if self.observer is not None:
                self.observer.error(failure.code)
            return 200, orjson.dumps(error_message(request_id, failure))
        finally:
            session.in_flight.pop(request_id, None)

    async def batch(self, receive: Receive, send: Send, session: Session, messages: list[Any], principal: Principal | None) -> None:
        """2025-03-26 batches: answer every request in the batch, in one JSON array."""
        reply = Reply(send, receive, _session_header(session), event_prefix="batch")
        answers: list[bytes] = []
        for item in messages:
            try:
                kind = classify(item)
            except McpError as error:
                answers.append(orjson.dumps(error_message(None, error)))
                continue
            if item.get("method") == "initialize":
                answers.append(orjson.dumps(error_message(item.get("id"), McpError(INVALID_REQUEST, "initialize cannot be batched"))))
            elif kind == "response":
                await self._answered(session, item)
            elif kind == "notification":
                self.notified(session, item)
            else:
                try:
                    answers.append((await self.run(session, item, reply, principal))[1])
                except asyncio.CancelledError:
                    if reply.disconnected or session.cancelled.pop(item["id"], None) is None:
                        raise
                    # That one request was cancelled by the client: it gets no response; the batch goes on.
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
        if not answers:
            await respond(send, 202, b"", _session_header(session))
            return
        await reply.finish(200, b"[" + b",".join(answers) + b"]")

    async def _answered(self, session: Session, message: dict[str, Any]) -> bool:
        """Hand the client's response to the request waiting for it, here or on another replica."""
        if session.resolve(message) or (self.relay is not None and await self.relay.answer(session.id, message)):
            return True
        _unmatched.warning("a response in session %s matches no waiting request (id %r)", session.id[:8],
                           message.get("id") if valid_id(message.get("id")) else None)
        return False

    def notified(self, session: Session, message: dict[str, Any]) -> None:
        if message["method"] == "notifications/cancelled":
            params = message.get("params") or {}
            request_id = params.get("requestId") if type(params) is dict else None
            task = session.in_flight.get(request_id) if valid_id(request_id) else None
            if task is not None:
                session.cancelled[request_id] = True
                task.cancel()
            elif valid_id(request_id) and self.relay is not None:
                self.relay.cancel(session.id, request_id)  # it may be running on another replica

    # Session-scoped methods.
    async def ping(self, call: Call) -> dict[str, Any]:
        return {}

    async def set_level(self, call: Call) -> dict[str, Any]:
        level = requested_level(call.params)
        assert isinstance(call.channel, Session)
        await self.store.change(call.channel, level=level)
        return {}

    async def subscribe(self, call: Call) -> dict[str, Any]:
        uri = call.params.get("uri")
        if type(uri) is not str:
            raise invalid_params("resources/subscribe needs a 'uri' string")
        assert isinstance(call.channel, Session)
        await self.store.change(call.channel, subscribe=uri)
        await self._subscriptions_changed(call.channel)
        return {}

    async def _subscriptions_changed(self, session: Session) -> None:
        """Answered once a bridged server that owns the URI is subscribed upstream (within a bound), so the update of
        a change that follows is not lost. The store's change message already gave the new set to every replica of
        this version; the relay's subscriptions message is for replicas of a Bosun before change numbers during a
        rolling upgrade, which update a GET stream's set from it alone (it can go once no such replica is left)."""
        if self.relay is not None:
            self.relay.subscriptions_changed(session.id, sorted(session.subscriptions), session.revision)
        await self.hub.interest_settled()

    async def unsubscribe(self, call: Call) -> dict[str, Any]:
        assert isinstance(call.channel, Session)
        await self.store.change(call.channel, unsubscribe=str(call.params.get("uri")))
        await self._subscriptions_changed(call.channel)
        return {}

    # GET and DELETE.
    async def get(self, receive: Receive, send: Send, headers: Headers, principal: Principal | None = None) -> None:
        """The session's own stream: list changes and updates of subscribed resources."""
        if not accepts(headers.get(b"accept"), json=False, sse=True):
            await reject(send, 406, "Not Acceptable: GET needs Accept: text/event-stream")
            return
        session = await self._session(send, headers, principal)
        if session is None:
            return
        last_event_id = headers.get(b"last-event-id")
        if last_event_id and self.events is not None and not last_event_id.startswith("get-"):
            await resume(send, receive, self.events, session.id, last_event_id, _session_header(session), self.keepalive)
            return
        if session.stream is not None:
            await reject(send, 409, "Conflict: this session already has an open GET stream")
            return
        if self.hub.open_streams() >= self.max_streams:
            await too_many_streams(send, self.max_streams)
            return
        listener = Listener({"tools", "prompts", "resources"}, session.subscriptions)
        session.stream = listener
        self.hub.add(listener)
        if self.observer is not None:
            self.observer.stream(1)
        events = 0

        def render(kind: str, uri: str | None) -> bytes:
            nonlocal events
            events += 1
            if kind == "resource":
                note: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
            else:
                note = {"jsonrpc": "2.0", "method": LIST_CHANGED_METHOD[kind]}
            return sse_event(orjson.dumps(note), f"get-{events}")

        try:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + _session_header(session)})
            await send({"type": "http.response.body", "body": b": stream open\n\n", "more_body": True})
            if await pump_changes(receive, send, listener, render, self.keepalive, self.closing):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.hub.remove(listener)
            session.stream = None
            session.touched = time.monotonic()
            if self.observer is not None:
                self.observer.stream(-1)

    async def delete(self, send: Send, headers: Headers, principal: Principal | None = None) -> None:
        session_id = headers.get(b"mcp-session-id")
        if session_id is None:
            await reject(send, 400, "Bad Request: missing Mcp-Session-Id header")
            return
        if await self._session(send, headers, principal) is None:
            return  # answered: unknown, expired or someone else's
        try:
            deleted = await self.store.delete(session_id)
        except McpError as error:
            await respond_store_error(send, error)
            return
        if not deleted:
            await reject(send, 404, "Session not found or expired")
            return
        # A shared store has told the other replicas (a request of it may be running on one) before returning.
        await respond(send, 200, b"", ())
