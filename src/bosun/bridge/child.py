"""A started child and its handshake: where its own traffic goes, and how a call is forwarded to it.

What the child sends on its own is routed to whoever caused it, and to no one else:
* progress, by the token Bosun minted for that call;
* a question mid-call (elicitation, sampling) to that call's client (`ForwardedCall.ask`); when
  several clients' calls are running on a shared child, a 2025 child gives no way to tell whose
  call asked, so the child is told so at once rather than the question going to the wrong person;
* `list_changed` to every client (`on_list_changed`), `resources/updated` to the hub, which sends it
  only to the streams subscribed to that URI;
* log messages to Bosun's own log: a shared child's logs are not any one client's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from bosun.bridge.calls import ForwardedCall
from bosun.bridge.handshake import ChildInfo, HandshakeFailed, discover, envelope, initialize
from bosun.bridge.http.endpoint import RemoteEndpoint
from bosun.bridge.process import ChildProcess
from bosun.bridge.rpc import ChildGone, Link, OnNotification, OnRequest, Upstream
from bosun.ops.logs import bounded
from bosun.protocol.errors import INTERNAL_ERROR, McpError

log = logging.getLogger("bosun.bridge")
_LIST_KINDS = {"notifications/tools/list_changed": "tools", "notifications/prompts/list_changed": "prompts",
               "notifications/resources/list_changed": "resources"}
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO, "warning": logging.WARNING}


class Child:
    """One child process speaking MCP, after its handshake."""

    def __init__(self, process: ChildProcess | RemoteEndpoint, on_list_changed: Callable[[str], None],
                 on_resource_updated: Callable[[str], None], shares_clients: bool,
                 upstream: Callable[[OnRequest, OnNotification], Link] | None = None) -> None:
        """`process` and `upstream` are a child process and its stdio, or a remote server's endpoint and the factory
        of its HTTP link (bridge/http/): the rest of the child is the same for both."""
        self.process = process
        self.on_list_changed = on_list_changed
        self.on_resource_updated = on_resource_updated
        self.shares_clients = shares_clients
        self.upstream: Link
        if upstream is not None:
            self.upstream = upstream(self._asked, self._notified)
        else:
            assert isinstance(process, ChildProcess)
            self.upstream = Upstream(process, self._asked, self._notified)
        self.info: ChildInfo | None = None
        self.calls: dict[str, ForwardedCall] = {}  # by the progress token Bosun minted
        self._tokens = itertools.count(1)
        self.last_active = time.monotonic()
        self.open_streams = 0
        self._listener: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.process.alive and self.upstream.closed is None

    @property
    def busy(self) -> bool:
        return bool(self.calls) or self.open_streams > 0

    async def handshake(self, timeout: float, modern_hint: bool | None) -> ChildInfo:
        """`server/discover`, else `initialize`; with a hint from an earlier child, the handshake that worked."""
        try:
            info = await discover(self.upstream, timeout) if modern_hint is not False else None
            if info is None:
                info = await initialize(self.upstream, timeout)
        except TimeoutError:
            raise HandshakeFailed(f"it did not finish its handshake within {timeout:g}s") from None
        except ChildGone as gone:
            raise HandshakeFailed(gone.why) from None
        self.info = info
        if info.modern:
            self._listener = asyncio.create_task(self._listen())
        return info

    async def _listen(self) -> None:
        """A 2026-07-28 server says a list changed only on a `subscriptions/listen` stream: keep one open for the
        child's life, so its `list_changed` reaches the clients as a 2025 child's does."""
        wanted = {"toolsListChanged": True, "promptsListChanged": True, "resourcesListChanged": True}
        with contextlib.suppress(Exception):  # it ends with the child, or the child does not offer it
            await self.upstream.request("subscriptions/listen", {"notifications": wanted, "_meta": envelope()}, 1e9)

    async def forward(self, method: str, params: dict[str, Any], call: ForwardedCall, timeout: float) -> dict[str, Any]:
        """Send one request for `call` and wait for the child's answer; on timeout or cancellation the
        child is told (`notifications/cancelled`) so it can stop working on it."""
        token = f"bosun-{next(self._tokens)}"
        request_id = self.upstream.mint()
        meta = params.get("_meta")
        if type(meta) is dict and "progressToken" in meta:
            params = {**params, "_meta": {**meta, "progressToken": token}}
        self.calls[token] = call
        self.last_active = time.monotonic()
        try:
            return await self.upstream.request(method, params, timeout, request_id)
        except TimeoutError:
            self._cancel_upstream(request_id, "timeout")
            raise McpError(INTERNAL_ERROR, f"The bridged server did not answer within {timeout:g}s") from None
        except asyncio.CancelledError:
            self._cancel_upstream(request_id, "the client's request ended")
            raise
        finally:
            self.calls.pop(token, None)
            self.last_active = time.monotonic()

    def _cancel_upstream(self, request_id: int, reason: str) -> None:
        """Tell the child to stop working on a request. Queued, not awaited: a child that is not reading (the
        usual reason for a timeout) takes it when it reads again, and the caller's error must not wait for that."""
        self.upstream.notify_now("notifications/cancelled", {"requestId": request_id, "reason": reason})

    async def request(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A request of Bosun's own (lists, subscriptions): no client to route anything to."""
        self.last_active = time.monotonic()
        return await self.upstream.request(method, params, timeout)

    # The child's own traffic.
    async def _asked(self, message: dict[str, Any]) -> dict[str, Any]:
        method = message["method"]
        self.last_active = time.monotonic()
        if method == "ping":
            return {}
        params = message.get("params")
        params = params if type(params) is dict else {}
        calls = list(self.calls.values())
        if not calls:
            raise McpError(INTERNAL_ERROR, f"{bounded(method, 100)} outside a call: no client to ask")
        if len(calls) > 1 and self.shares_clients:
            raise McpError(INTERNAL_ERROR, f"{bounded(method, 100)} while several clients' calls run on this child: "
                           "it cannot be told whose call asked (use the bridge's session or request isolation)")
        return await calls[0].ask(method, params)

    def _notified(self, message: dict[str, Any]) -> None:
        method = message["method"]
        params = message.get("params")
        params = params if type(params) is dict else {}
        self.last_active = time.monotonic()
        if method == "notifications/progress":
            call = self.calls.get(params.get("progressToken"))  # type: ignore[arg-type]
            if call is not None:
                asyncio.create_task(call.progress(params))
        elif method in _LIST_KINDS:
            self.on_list_changed(_LIST_KINDS[method])
        elif method == "notifications/resources/updated":
            uri = params.get("uri")
            if type(uri) is str:
                self.on_resource_updated(uri)
        elif method == "notifications/message":
            level = _LOG_LEVELS.get(str(params.get("level")), logging.ERROR)
            log.log(level, "bridge %s: %s says: %s", self.process.name, self.process.label,
                    bounded(str(params.get("data")), 1000))

    async def stop(self, reason: str = "stopped", grace: float = 2.0) -> None:
        """Fail its calls at once (with why, for their callers), then stop the process (closing stdin first)."""
        self.upstream.close(f"it was {reason}" if reason.startswith("stopped") else reason, stop_process=False)
        await self.process.stop(grace, reason)
