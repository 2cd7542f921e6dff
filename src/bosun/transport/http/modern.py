"""The 2026-07-28 endpoint: one stateless POST per request.

Nothing survives a request here. The version, capabilities and client identity
come from the request's `_meta`; input from the user comes back as
`inputResponses` with a sealed `requestState`; change notifications flow on a
`subscriptions/listen` stream that lives exactly as long as its request, and so do
an extension's own (tasks: `notifications/tasks`), through the feeds of app.extensions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import orjson

from bosun.app.extensions import close_feeds, open_feeds
from bosun.app.handlers import Handlers
from bosun.asgi import respond, respond_error, too_many_streams
from bosun.ops.logs import request_id as request_id_var
from bosun.protocol.call import META_CLIENT_INFO, META_LOG_LEVEL, META_SERVER_INFO, META_SUBSCRIPTION_ID, Call
from bosun.protocol.changes import LIST_CHANGED_METHOD, ChangeHub, Listener, listen_filter
from bosun.protocol.errors import INVALID_REQUEST, McpError, internal_error, invalid_params, method_not_found
from bosun.protocol.jsonrpc import classify, error_bytes, response_id, result_bytes
from bosun.protocol.observe import Observer
from bosun.protocol.principal import Principal
from bosun.transport.http.envelope import validate_envelope, validate_param_headers
from bosun.transport.http.sse import SSE_HEADERS, Reply, pump_changes, retry_after, sse_event
from bosun.transport.http.wire import Headers
from bosun.types import Receive, Send

log = logging.getLogger("bosun.transport")
_FEED = "extension"  # the queue item that says an extension's notification is next (no change kind is named so)


class ModernEndpoint:
    def __init__(self, handlers: Handlers, hub: ChangeHub, keepalive_seconds: float, observer: Observer | None = None,
                 max_streams: int = 500) -> None:
        self.observer = observer
        self.max_streams = max_streams
        self.handlers = handlers
        self.table = handlers.modern
        self.hub = hub
        self.keepalive = keepalive_seconds
        self.result_meta = {META_SERVER_INFO: handlers.server_info}
        self.closing = asyncio.Event()

    async def post(self, receive: Receive, send: Send, headers: Headers, message: Any, principal: Principal | None = None,
                   peer: str | None = None) -> None:
        if type(message) is list:
            await respond_error(send, 400, McpError(INVALID_REQUEST, "JSON-RPC batches are not supported in protocol 2026-07-28"))
            return
        request_id = response_id(message)
        try:
            kind = classify(message)
            if kind != "request":
                if kind == "response":
                    raise McpError(INVALID_REQUEST, "Clients must not send responses in protocol 2026-07-28", http_status=400)
                await respond(send, 202, b"", ())
                return
            params = message.get("params") or {}
            version, capabilities = validate_envelope(headers, message, params)
            method = message["method"]
            if method == "subscriptions/listen":
                listening = Call(request_id, method, params, version, True, capabilities, None)
                listening.principal = principal
                await self.listen(receive, send, listening)
                return
            handler = self.table.get(method)
            if handler is None:
                raise method_not_found(method)
            if method == "tools/call":
                self._check_mirrored(headers, params)
        except McpError as error:
            if self.observer is not None:
                self.observer.error(error.code)
            await respond_error(send, error.http_status, error, request_id)
            return
        meta: dict[str, Any] = params["_meta"]  # validate_envelope checked it is an object
        level = meta.get(META_LOG_LEVEL)
        reply = Reply(send, receive, observer=self.observer)
        call = Call(request_id, method, params, version, True, capabilities, reply.message,
                    client_info=meta.get(META_CLIENT_INFO), log_level=level if type(level) is str else None)
        call.principal = principal
        try:
            result = await handler(call)
            if "resultType" not in result:
                result["resultType"] = "complete"
            own_meta = result.get("_meta")
            result["_meta"] = {**self.result_meta, **own_meta} if own_meta else self.result_meta
            await reply.finish(200, result_bytes(request_id, result))
        except McpError as error:
            if self.observer is not None:
                self.observer.error(error.code)
            reply.retry_after = retry_after(error)
            await reply.finish(error.http_status, error_bytes(request_id, error))
        except asyncio.CancelledError:
            if not reply.disconnected:
                raise
        except Exception:
            log.exception("unexpected error in %s", method)
            failure = internal_error(request_id_var.get())
            if self.observer is not None:
                self.observer.error(failure.code)
            await reply.finish(failure.http_status, error_bytes(request_id, failure))
        finally:
            reply.close()

    def _check_mirrored(self, headers: Headers, params: dict[str, Any]) -> None:
        tool = self.handlers.registry.tools.get(params.get("name"))  # type: ignore[arg-type]
        if tool is not None and tool.mirrored_headers:
            validate_param_headers(headers, tool.mirrored_headers, params.get("arguments"))

    async def listen(self, receive: Receive, send: Send, call: Call) -> None:
        """`subscriptions/listen`: acknowledge, then stream the opted-in changes until either side ends it.

        Extensions' notifications share the stream's one queue and writer: a feed's message is kept in `pending`
        and a `_FEED` item queued for it, so the writer sends it in its turn among the changes (two writers on
        one response could interleave their bytes)."""
        request_id = call.id
        wanted = call.params.get("notifications")
        if type(wanted) is not dict:
            raise invalid_params("subscriptions/listen needs a 'notifications' filter object", http_status=400)
        kinds, uris, agreed = listen_filter(wanted, self.handlers.capabilities)
        if self.hub.open_streams() >= self.max_streams:
            await too_many_streams(send, self.max_streams, request_id)
            return
        hooks = self.handlers.listen_hooks
        feeds = await open_feeds(hooks, call, wanted, agreed) if hooks else []
        listener = Listener(kinds, uris)
        subscription = {META_SUBSCRIPTION_ID: request_id}
        ack = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
               "params": {"_meta": subscription, "notifications": agreed}}
        self.hub.add(listener)
        if self.observer is not None:
            self.observer.stream(1)
        pending: deque[tuple[str, dict[str, Any]]] = deque()

        def notify(method: str, note: dict[str, Any]) -> None:
            try:
                listener.queue.put_nowait((_FEED, None))
            except asyncio.QueueFull:
                return  # a stuck client: dropped, as the hub drops its changes
            pending.append((method, note))

        def render(kind: str, uri: str | None) -> bytes:
            if kind == _FEED:
                method, note = pending.popleft()
                message = {"jsonrpc": "2.0", "method": method, "params": {**note, "_meta": subscription}}
                return sse_event(orjson.dumps(message))
            return sse_event(orjson.dumps(_change_notification(kind, uri, subscription)))

        try:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            await send({"type": "http.response.body", "body": sse_event(orjson.dumps(ack)), "more_body": True})
            for feed in feeds:
                feed.start(notify)
            if await pump_changes(receive, send, listener, render, self.keepalive, self.closing):
                final = {"resultType": "complete", "_meta": subscription}
                await send({"type": "http.response.body", "body": sse_event(result_bytes(request_id, final)), "more_body": False})
        finally:
            close_feeds(feeds)
            self.hub.remove(listener)
            if self.observer is not None:
                self.observer.stream(-1)


def _change_notification(kind: str, uri: str | None, meta: dict[str, Any]) -> dict[str, Any]:
    if kind == "resource":
        return {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"_meta": meta, "uri": uri}}
    return {"jsonrpc": "2.0", "method": LIST_CHANGED_METHOD[kind], "params": {"_meta": meta}}
