"""One client's request on its way through a child, and the calls parked for a 2026-07-28 client.

A 2025 child asks its client things mid-call (elicitation, sampling) with a request of its own.
Which client? The one whose call is running: `ForwardedCall` is that call, and the child's
question becomes an event on it. Whoever serves the client's request takes the event:

* a 2025 session client is asked on the call's own stream (across replicas as any session request);
* a 2026-07-28 client cannot be asked mid-call: the call is *parked*. The child keeps waiting, the
  client gets an `InputRequiredResult` whose sealed `requestState` names the parked call, and its
  retry with `inputResponses` hands the answer to the waiting child and goes on following the call.
  A parked call is held for `park_seconds`; then the child is answered with an error, the call is
  cancelled upstream, and a late retry is told plainly that the call is gone.

A client that cannot answer (it did not declare the capability) never leaves a child waiting: the
child gets an error at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bosun.protocol.call import SendMessage
from bosun.protocol.errors import INTERNAL_ERROR, INVALID_PARAMS, McpError

_KIND = {"elicitation/create": "elicit", "sampling/createMessage": "sample", "roots/list": "roots"}
_CAPABILITY = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}

Event = tuple[str, Any, Any]  # ("input", key, request) | ("done", result, None) | ("failed", error, None)


class ForwardedCall:
    """A request forwarded to a child, followed by whoever serves the client."""

    def __init__(self, capabilities: dict[str, Any], client_token: Any, send: SendMessage | None,
                 answer_seconds: float) -> None:
        self.id = secrets.token_urlsafe(18)
        self.capabilities = capabilities
        self.client_token = client_token
        self.send = send
        self.answer_seconds = answer_seconds
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._keys = itertools.count()
        self.task: asyncio.Task[None] | None = None
        self.parked_until = 0.0

    def start(self, run: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        async def follow() -> None:
            try:
                self.events.put_nowait(("done", await run(), None))
            except asyncio.CancelledError:
                self.events.put_nowait(("failed", McpError(INTERNAL_ERROR, "The call was cancelled"), None))
                raise
            except Exception as failure:  # McpError from the child, ChildGone, a timeout: the follower raises it
                self.events.put_nowait(("failed", failure, None))

        self.task = asyncio.create_task(follow())

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(McpError(INTERNAL_ERROR, "The client's call ended before it answered"))

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The child asks this call's client something; the answer, or an error within the bound."""
        capability = _CAPABILITY.get(method)
        if capability is None or capability not in self.capabilities:
            raise McpError(INVALID_PARAMS, f"The client cannot answer {method}: it did not declare {capability or method}")
        key = f"{_KIND[method]}-{next(self._keys)}"  # unique for the call's whole life
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        self.events.put_nowait(("input", key, {"method": method, "params": params}))
        try:
            return await asyncio.wait_for(future, self.answer_seconds)
        except TimeoutError:
            raise McpError(INTERNAL_ERROR, f"The client did not answer {method} within {self.answer_seconds:g}s") from None
        finally:
            self.waiting.pop(key, None)

    def answer(self, responses: dict[str, Any]) -> int:
        """Hand the client's answers to the questions waiting under their keys; how many were waiting for one."""
        delivered = 0
        for key, future in list(self.waiting.items()):
            answer = responses.get(key)
            if type(answer) is dict and not future.done():
                future.set_result(answer)
                delivered += 1
        return delivered

    def refuse(self, key: str, failure: McpError) -> None:
        future = self.waiting.get(key)
        if future is not None and not future.done():
            future.set_exception(failure)

    async def progress(self, params: dict[str, Any]) -> None:
        """The child's progress for this call, under the client's own token."""
        if self.send is None or self.client_token is None:
            return
        forwarded = {**params, "progressToken": self.client_token}
        with contextlib.suppress(Exception):  # the client has gone: its call ends on its own
            await self.send({"jsonrpc": "2.0", "method": "notifications/progress", "params": forwarded})


class ParkedCalls:
    """Calls waiting for a 2026-07-28 client's retry, by id, each for a bounded time."""

    def __init__(self, park_seconds: float) -> None:
        self.park_seconds = park_seconds
        self._held: dict[str, ForwardedCall] = {}
        self._reaper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, call: ForwardedCall) -> str:
        call.parked_until = time.monotonic() + self.park_seconds
        self._held[call.id] = call
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap())
        return call.id

    def take(self, call_id: str) -> ForwardedCall | None:
        call = self._held.pop(call_id, None)
        if call is not None:
            call.parked_until = 0.0  # followed again: a client that goes away now cancels it
        return call

    async def _reap(self) -> None:
        while self._held:
            await asyncio.sleep(min(1.0, self.park_seconds))
            now = time.monotonic()
            for call_id, call in list(self._held.items()):
                if call.parked_until <= now:
                    del self._held[call_id]
                    for key in list(call.waiting):
                        call.refuse(key, McpError(INTERNAL_ERROR, f"The client did not come back within {self.park_seconds:g}s"))
                    call.cancel()

    def close(self) -> None:
        for call in self._held.values():
            call.cancel()
        self._held.clear()
        if self._reaper is not None:
            self._reaper.cancel()
