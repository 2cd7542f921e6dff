"""stdio: one client, newline-delimited JSON-RPC on stdin and stdout, both protocol eras.

A desktop client launches the server as a subprocess. The process is dual-era, as the
2026-07-28 stdio binding describes: a request whose `_meta` names a modern protocol
version is served statelessly (input from the user comes back through `inputResponses`);
`initialize` opens the process's one 2025 session, after which requests to the client
(elicitation, sampling, roots) go out on stdout and its answers come back on stdin.

Every request runs as its own task, so a slow tool never holds up the next line, and
`notifications/cancelled` cancels it. stdout carries protocol messages only: the caller
hands in the real stdout and points file descriptor 1 at stderr, so a stray `print()` in
a tool cannot corrupt the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

import orjson

from bosun.app.extensions import close_feeds, open_feeds
from bosun.app.handlers import Handler, Handlers
from bosun.ops.heap import freeze_heap
from bosun.ops.logs import request_id as request_id_var
from bosun.protocol.call import (
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
    META_SUBSCRIPTION_ID,
    Call,
    requested_level,
)
from bosun.protocol.changes import LIST_CHANGED_METHOD, ChangeHub, Listener, listen_filter
from bosun.protocol.errors import INVALID_REQUEST, McpError, internal_error, invalid_params, method_not_found
from bosun.protocol.jsonrpc import classify, decode, error_bytes, result_bytes, valid_id
from bosun.protocol.versions import ALL_VERSIONS, BATCHING_VERSIONS, negotiate_legacy
from bosun.state.sessions.session import Session
from bosun.transport.http.envelope import validate_meta

log = logging.getLogger("bosun.stdio")
_NO_ERA = ("send initialize first (a 2025 client), or put io.modelcontextprotocol/protocolVersion and "
           f"clientCapabilities in params._meta (supported: {', '.join(ALL_VERSIONS)})")


def read_lines(source: BinaryIO, limit: int, deliver: Callable[[bytes | None], None]) -> threading.Thread:
    """Read `source` line by line on a daemon thread (a blocking read is portable; pipes, files and
    terminals all work), handing each line to `deliver` and None at end of input. A line longer
    than `limit` is skipped to its end and delivered as b"" plus a marker the endpoint answers."""

    def run() -> None:
        try:
            while True:
                line = source.readline(limit + 1)
                if not line:
                    break
                if len(line) > limit and not line.endswith(b"\n"):
                    while True:  # discard the rest of the oversized message
                        rest = source.readline(1 << 16)
                        if not rest or rest.endswith(b"\n"):
                            break
                    line = _TOO_LARGE
                deliver(line)
        except (OSError, ValueError):
            pass
        with contextlib.suppress(RuntimeError):  # the event loop has already closed
            deliver(None)

    thread = threading.Thread(target=run, name="bosun-stdin", daemon=True)
    thread.start()
    return thread


_TOO_LARGE = b"\0too-large"


class StdioEndpoint:
    """Serves one stdio client: dispatches each line, writes each answer and notification as one line."""

    def __init__(self, handlers: Handlers, hub: ChangeHub, output: BinaryIO, max_message_bytes: int,
                 request_timeout: float = 300.0) -> None:
        self.handlers = handlers
        self.hub = hub
        self.output = output
        self.max_message_bytes = max_message_bytes
        self.request_timeout = request_timeout
        self.session: Session | None = None
        self.tasks: dict[Any, asyncio.Task[None]] = {}
        self.cancelled: set[Any] = set()
        self._listener: Listener | None = None
        self.listening: set[Any] = set()  # ids of the open subscriptions/listen requests
        self._pump: asyncio.Task[None] | None = None
        self.result_meta = {META_SERVER_INFO: handlers.server_info}
        self.legacy_table: dict[str, Handler] = {**handlers.legacy, "ping": self._ping, "logging/setLevel": self._set_level,
                                                  "resources/subscribe": self._subscribe, "resources/unsubscribe": self._unsubscribe}

    # Output.
    def write(self, line: bytes) -> None:
        """One message, one line: orjson never emits a raw newline inside a message."""
        with contextlib.suppress(BrokenPipeError, ValueError):  # the client has gone; end of input follows
            self.output.write(line + b"\n")
            self.output.flush()

    async def send(self, message: dict[str, Any]) -> None:
        self.write(orjson.dumps(message))

    # Input.
    def received(self, line: bytes) -> None:
        """Dispatch one line: requests start tasks, notifications and responses are handled at once."""
        if line == _TOO_LARGE:
            error = McpError(INVALID_REQUEST, f"Invalid Request: a message over {self.max_message_bytes} bytes (BOSUN_MAX_BODY_BYTES)")
            self.write(error_bytes(None, error))
            return
        if not line.strip():
            return
        try:
            message = decode(line)
        except McpError as error:
            self.write(error_bytes(None, error))
            return
        if type(message) is list:
            self._batch(message)
        else:
            self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        try:
            kind = classify(message)
        except McpError as error:
            self.write(error_bytes(None, error))
            return
        if kind == "response":
            if self.session is None or not self.session.resolve(message):
                answered = message.get("id")
                log.warning("a response matches no request of this server (id %r)", answered if valid_id(answered) else None)
        elif kind == "notification":
            self._notified(message)
        else:
            self._start(message)

    def _start(self, message: dict[str, Any]) -> None:
        request_id = message["id"]
        if request_id in self.tasks:
            in_use = McpError(INVALID_REQUEST, "Invalid Request: this id is already in use by a request in progress")
            self.write(error_bytes(request_id, in_use))
            return
        self.tasks[request_id] = asyncio.get_running_loop().create_task(self._run(message))

    def _batch(self, messages: list[Any]) -> None:
        """2025-03-26 allows batches: each request is answered on its own line, as it completes."""
        if self.session is None or self.session.version not in BATCHING_VERSIONS or not messages:
            self.write(error_bytes(None, McpError(INVALID_REQUEST, "Invalid Request: batches need a 2025-03-26 session")))
            return
        for item in messages:
            self._dispatch(item)

    def _notified(self, message: dict[str, Any]) -> None:
        if message["method"] != "notifications/cancelled":
            return  # notifications/initialized, roots/list_changed: nothing to do
        params = message.get("params")
        target = params.get("requestId") if type(params) is dict else None
        task = self.tasks.get(target) if valid_id(target) else None
        if task is not None:
            self.cancelled.add(target)
            task.cancel()

    async def _run(self, message: dict[str, Any]) -> None:
        request_id = message["id"]
        token = request_id_var.set(os.urandom(8).hex())  # quoted in generic error messages, as over HTTP
        try:
            answer = await self.answer(message)
            if answer is not None:
                self.write(answer)
        except asyncio.CancelledError:
            if request_id not in self.cancelled:
                raise  # shutting down
        finally:
            self.cancelled.discard(request_id)
            self.tasks.pop(request_id, None)
            request_id_var.reset(token)

    async def answer(self, message: dict[str, Any]) -> bytes | None:
        """The response line for one request (None for a subscription ended by cancellation)."""
        request_id = message["id"]
        method = message["method"]
        params = message.get("params")
        try:
            if params is None:
                params = {}
            elif type(params) is not dict:
                raise invalid_params("params must be an object")
            if method == "initialize":
                return result_bytes(request_id, self._initialize(params))
            meta = params.get("_meta")
            if type(meta) is dict and META_PROTOCOL_VERSION in meta:
                return await self._modern(request_id, method, params, meta)
            if self.session is None:
                if method == "ping":
                    return result_bytes(request_id, {})  # answered at any time, as the lifecycle allows
                raise McpError(INVALID_REQUEST, f"No protocol version for {method}: {_NO_ERA}")
            handler = self.legacy_table.get(method)
            if handler is None:
                raise method_not_found(method)
            session = self.session
            call = Call(request_id, method, params, session.version, False, session.capabilities, self.send,
                        channel=session, client_info=session.client_info, log_level=session.log_level)
            return result_bytes(request_id, await handler(call))
        except McpError as error:
            return error_bytes(request_id, error)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error in %s", method)
            return error_bytes(request_id, internal_error(request_id_var.get()))

    async def _modern(self, request_id: Any, method: str, params: dict[str, Any], meta: dict[str, Any]) -> bytes | None:
        version, capabilities = validate_meta(params)
        if method == "subscriptions/listen":
            await self._listen(Call(request_id, method, params, version, True, capabilities, None))
            return None
        handler = self.handlers.modern.get(method)
        if handler is None:
            raise method_not_found(method)
        level = meta.get(META_LOG_LEVEL)
        call = Call(request_id, method, params, version, True, capabilities, self.send,
                    client_info=meta.get(META_CLIENT_INFO), log_level=level if type(level) is str else None)
        result = await handler(call)
        result.setdefault("resultType", "complete")
        own = result.get("_meta")
        result["_meta"] = {**self.result_meta, **own} if own else self.result_meta
        return result_bytes(request_id, result)

    # 2025: the process's one session.
    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        capabilities = params.get("capabilities")
        client_info = params.get("clientInfo")
        version = negotiate_legacy(params.get("protocolVersion"))
        self.session = Session("stdio", version, capabilities if type(capabilities) is dict else {},
                               client_info if type(client_info) is dict else None, request_timeout=self.request_timeout)
        if self._listener is None:
            self._listener = Listener({"tools", "prompts", "resources"}, self.session.subscriptions)
            self.hub.add(self._listener)
            self._pump = asyncio.get_running_loop().create_task(self._pump_changes(self._listener, None))
        else:
            self._listener.uris = self.session.subscriptions
        offered = self.handlers.session_capabilities.get(version, self.handlers.capabilities)
        result: dict[str, Any] = {"protocolVersion": version, "capabilities": offered,
                                  "serverInfo": self.handlers.server_info}
        if self.handlers.instructions:
            result["instructions"] = self.handlers.instructions
        return result

    async def _ping(self, call: Call) -> dict[str, Any]:
        return {}

    async def _set_level(self, call: Call) -> dict[str, Any]:
        level = requested_level(call.params)
        assert self.session is not None
        self.session.log_level = level
        return {}

    async def _subscribe(self, call: Call) -> dict[str, Any]:
        uri = call.params.get("uri")
        if type(uri) is not str:
            raise invalid_params("resources/subscribe needs a 'uri' string")
        assert self.session is not None
        self.session.subscriptions.add(uri)
        await self.hub.interest_settled()  # answered once a bridged server owning the URI is subscribed upstream
        return {}

    async def _unsubscribe(self, call: Call) -> dict[str, Any]:
        assert self.session is not None
        self.session.subscriptions.discard(str(call.params.get("uri")))
        await self.hub.interest_settled()
        return {}

    # Change notifications.
    async def _listen(self, call: Call) -> None:
        """2026-07-28 `subscriptions/listen`: acknowledge, then notify until the client cancels the request.
        An extension's notifications (app.extensions feeds) are written as they come: each is one whole line."""
        request_id = call.id
        wanted = call.params.get("notifications")
        if type(wanted) is not dict:
            raise invalid_params("subscriptions/listen needs a 'notifications' filter object")
        kinds, uris, agreed = listen_filter(wanted, self.handlers.capabilities)
        hooks = self.handlers.listen_hooks
        feeds = await open_feeds(hooks, call, wanted, agreed) if hooks else []
        subscription = {META_SUBSCRIPTION_ID: request_id}

        def notify(method: str, note: dict[str, Any]) -> None:
            self.write(orjson.dumps({"jsonrpc": "2.0", "method": method, "params": {**note, "_meta": subscription}}))

        listener = Listener(kinds, uris)
        self.hub.add(listener)
        self.listening.add(request_id)
        try:
            await self.send({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                             "params": {"_meta": subscription, "notifications": agreed}})
            for feed in feeds:
                feed.start(notify)
            await self._pump_changes(listener, subscription)
        finally:
            close_feeds(feeds)
            self.listening.discard(request_id)
            self.hub.remove(listener)

    async def _pump_changes(self, listener: Listener, subscription: dict[str, Any] | None) -> None:
        while True:
            kind, uri = await listener.queue.get()
            note: dict[str, Any]
            if kind == "resource":
                note = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
            else:
                note = {"jsonrpc": "2.0", "method": LIST_CHANGED_METHOD[kind], "params": {}}
            if subscription is not None:
                note["params"]["_meta"] = subscription
            await self.send(note)

    async def close(self, grace: float) -> None:
        """End of input: let requests in progress finish for `grace` seconds, then cancel what is left. A listen is
        no work in progress: it ends at once (it would otherwise hold every stop for the whole grace)."""
        if self._pump is not None:
            self._pump.cancel()
        if self._listener is not None:
            self.hub.remove(self._listener)
        for request_id in list(self.listening):
            task = self.tasks.get(request_id)
            if task is not None:
                self.cancelled.add(request_id)
                task.cancel()
        pending = list(self.tasks.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


Hook = Callable[[], Awaitable[None]]


def claim_stdout() -> BinaryIO:
    """Keep stdout for protocol messages only: return a writer on a duplicate of it, and point file
    descriptor 1 (and `sys.stdout`) at stderr, where a tool's `print()` or a library's chatter is harmless."""
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


async def serve(endpoint: StdioEndpoint, source: BinaryIO, on_startup: list[Hook], on_shutdown: list[Hook],
                grace: float = 5.0) -> None:
    """Run start-up hooks, serve until end of input (or SIGTERM), then let requests finish and run shutdown hooks."""
    for hook in on_startup:
        await hook()
    freeze_heap()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    def deliver(line: bytes | None) -> None:
        loop.call_soon_threadsafe(lines.put_nowait, line)

    read_lines(source, endpoint.max_message_bytes, deliver)
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers off the main thread
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            getter = asyncio.ensure_future(lines.get())
            await asyncio.wait({getter, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            line = getter.result()
            if line is None:
                break
            endpoint.received(line)
    finally:
        stopping.cancel()
        await endpoint.close(grace)
        for hook in on_shutdown:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
