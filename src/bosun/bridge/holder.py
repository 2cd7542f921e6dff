"""The holder's side of a call another replica follows (see remote.py): run it here, pump its events there.

A `start` message runs a new call on this replica's child for the key (a `session` bridge's child
lives here); an `attach` resumes a call parked here for a 2026-07-28 client whose retry reached
another replica. Either way the call is an ordinary `ForwardedCall`, and its events go to the entry
replica until it ends, or until it asks a 2026-07-28 client something: then it is parked here again
and the entry answers its client with an `InputRequiredResult` naming this replica.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from bosun.bridge.calls import ForwardedCall, ParkedCalls
from bosun.bridge.child import Child
from bosun.bridge.options import BridgeOptions
from bosun.bridge.pool import ChildPool
from bosun.bridge.remote import RemoteCall, failure_event
from bosun.protocol.errors import INTERNAL_ERROR, INVALID_PARAMS, McpError
from bosun.state.relay.relay import CallRelay

Outgoing = Callable[[Child, dict[str, Any], dict[str, Any], str | None, Any], dict[str, Any]]


def _object(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else {}


class Holder:
    def __init__(self, options: BridgeOptions, pool: ChildPool, parked: ParkedCalls, outgoing: Outgoing) -> None:
        self.options = options
        self.pool = pool
        self.parked = parked
        self.outgoing = outgoing
        self.relay: CallRelay | None = None
        self.pumping: dict[str, ForwardedCall] = {}  # calls run here for another replica, by id
        self.following: dict[str, RemoteCall] = {}  # calls followed here and run elsewhere, by id

    async def received(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        call_id = message.get("call")
        entry = message.get("from")
        if type(call_id) is not str or type(entry) is not str:
            return
        if kind == "event":
            remote = self.following.get(call_id)
            if remote is not None:
                if message.get("kind") in ("done", "failed"):
                    self.following.pop(call_id, None)
                await remote.received(message)
        elif kind == "start":
            await self._start(call_id, entry, message)
        elif kind == "attach":
            parked = self.parked.take(call_id)
            if parked is None:
                await self._send(entry, failure_event(call_id, self._replica(), McpError(
                    INVALID_PARAMS, "This call is no longer waiting for your answer: it waited longer than "
                    f"{self.options.park_seconds:g}s; make the call again")))
                return
            responses = message.get("responses")
            parked.answer(responses if type(responses) is dict else {})
            await self._pump(parked, entry, True)
        else:
            forwarded = self.pumping.get(call_id)
            if forwarded is None:
                return
            if kind == "answer" and type(message.get("responses")) is dict:
                forwarded.answer(message["responses"])
            elif kind == "refuse":
                error = _object(message.get("error"))
                forwarded.refuse(str(message.get("key")), McpError(INTERNAL_ERROR, str(error.get("message", "refused"))))
            elif kind == "cancel":
                forwarded.cancel()

    def _replica(self) -> str:
        return self.relay.replica if self.relay is not None else "local"

    async def _send(self, entry: str, message: dict[str, Any]) -> bool:
        return self.relay is not None and await self.relay.send(entry, message)

    async def _start(self, call_id: str, entry: str, message: dict[str, Any]) -> None:
        params = _object(message.get("params"))
        meta = _object(message.get("meta"))
        capabilities = _object(message.get("capabilities"))
        try:
            child = await self.pool.acquire(str(message.get("key")), str(message.get("owner", "")))
            outgoing = self.outgoing(child, params, meta, message.get("state"), message.get("responses"))
        except Exception as failure:
            await self._send(entry, failure_event(call_id, self._replica(), failure))
            return
        replica = self._replica()

        async def progress(notification: dict[str, Any]) -> None:
            await self._send(entry, {"t": "event", "call": call_id, "from": replica, "kind": "progress",
                                     "value": notification.get("params")})

        forwarded = ForwardedCall(capabilities, "remote" if message.get("progress") else None, progress,
                                  self.options.answer_seconds)
        forwarded.id = call_id
        method = str(message.get("method"))
        forwarded.start(lambda: child.forward(method, outgoing, forwarded, self.options.call_seconds))
        await self._pump(forwarded, entry, bool(message.get("modern")))

    async def _pump(self, forwarded: ForwardedCall, entry: str, modern: bool) -> None:
        """Send the call's events to `entry` until it ends, or parks here for a 2026-07-28 client's retry."""
        replica = self._replica()
        self.pumping[forwarded.id] = forwarded
        try:
            while True:
                kind, value, request = await forwarded.events.get()
                if kind == "failed":
                    message = failure_event(forwarded.id, replica, value)
                else:
                    message = {"t": "event", "call": forwarded.id, "from": replica, "kind": kind, "value": value,
                               "request": request}
                if kind == "input" and modern:
                    self.parked.hold(forwarded)
                if not await self._send(entry, message):
                    with contextlib.suppress(Exception):
                        self.parked.take(forwarded.id)
                    forwarded.cancel()  # the entry is gone, and its client with it
                    return
                if kind in ("done", "failed") or (kind == "input" and modern):
                    return
        finally:
            self.pumping.pop(forwarded.id, None)
