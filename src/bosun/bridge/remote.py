"""Calls whose child is on another replica: followed here, run there, carried by the `CallRelay`.

Two cases need it. A `session` bridge's child lives on the replica that started it, and the
session's next request may land anywhere. A call parked for a 2026-07-28 client lives where it
was parked, and the client's retry may land anywhere. In both, the replica the request reached
(the *entry*) follows a `RemoteCall`, and the replica holding the work (the *holder*) runs an
ordinary `ForwardedCall` and pumps its events back:

    entry -> holder   start (a new call for a key), attach (resume a parked call), answer, refuse, cancel
    holder -> entry   event: progress, input (a question for the client), done, failed

`RemoteCall` looks to `Bridge._follow` exactly like a local `ForwardedCall`, so both eras of client
work the same whichever replica they reach. The entry checks every second that the holder is
still there: a replica that dies mid-call gives the client a clear error, never a hang.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bosun.protocol.errors import INTERNAL_ERROR, McpError
from bosun.state.relay.relay import CallRelay

_ALIVE_EVERY = 1.0


def gone(holder: str) -> McpError:
    return McpError(INTERNAL_ERROR, "The replica holding this call's bridged server is gone, and the call with it; "
                    "start it again (a 2025 session: initialize a new session)", http_status=503)


class RemoteEvents:
    """The events of a call running on another replica, with the holder's liveness checked while waiting."""

    def __init__(self, relay: CallRelay, holder: str) -> None:
        self.relay = relay
        self.holder = holder
        self.queue: asyncio.Queue[tuple[str, Any, Any]] = asyncio.Queue()

    async def get(self) -> tuple[str, Any, Any]:
        while True:
            try:
                return await asyncio.wait_for(self.queue.get(), _ALIVE_EVERY)
            except TimeoutError:
                if self.queue.empty() and not await self.relay.alive(self.holder):
                    return ("failed", gone(self.holder), None)

    def put_nowait(self, event: tuple[str, Any, Any]) -> None:
        self.queue.put_nowait(event)


class RemoteCall:
    """The entry's side of a call held by `holder`; the same surface `Bridge._follow` uses on a `ForwardedCall`."""

    def __init__(self, relay: CallRelay, holder: str, call_id: str) -> None:
        self.relay = relay
        self.holder = holder
        self.id = call_id
        self.events = RemoteEvents(relay, holder)
        self.parked_until = 0.0
        self.send: Any = None
        self.client_token: Any = None

    async def _tell(self, message: dict[str, Any]) -> None:
        if not await self.relay.send(self.holder, {**message, "call": self.id, "from": self.relay.replica}):
            self.events.put_nowait(("failed", gone(self.holder), None))

    def answer(self, responses: dict[str, Any]) -> int:
        asyncio.ensure_future(self._tell({"t": "answer", "responses": responses}))
        return len(responses)

    def refuse(self, key: str, failure: McpError) -> None:
        asyncio.ensure_future(self._tell({"t": "refuse", "key": key, "error": failure.to_error()}))

    def cancel(self) -> None:
        asyncio.ensure_future(self._tell({"t": "cancel"}))

    async def start(self, message: dict[str, Any]) -> None:
        await self._tell(message)

    async def received(self, message: dict[str, Any]) -> None:
        """An event from the holder."""
        kind = message.get("kind")
        if kind == "progress":
            params = message.get("value")
            if self.send is not None and self.client_token is not None and type(params) is dict:
                forwarded = {**params, "progressToken": self.client_token}
                await self.send({"jsonrpc": "2.0", "method": "notifications/progress", "params": forwarded})
        elif kind == "failed":
            found = message.get("value")
            error: dict[str, Any] = found if type(found) is dict else {}
            found_code = error.get("code")
            code = found_code if type(found_code) is int else INTERNAL_ERROR
            status = 503 if message.get("retryable") else 200
            self.events.put_nowait(("failed", McpError(code, str(error.get("message", "failed")), error.get("data"), status), None))
        elif kind in ("done", "input"):
            self.events.put_nowait((kind, message.get("value"), message.get("request")))


def failure_event(call_id: str, replica: str, failure: BaseException) -> dict[str, Any]:
    """A `failed` event for the entry, from whatever ended the call here."""
    if isinstance(failure, McpError):
        return {"t": "event", "call": call_id, "from": replica, "kind": "failed", "value": failure.to_error(),
                "retryable": failure.http_status == 503}
    return {"t": "event", "call": call_id, "from": replica, "kind": "failed",
            "value": {"code": INTERNAL_ERROR, "message": "The bridged call failed"}}
