"""JSON-RPC over one child's stdio: ids Bosun mints, answers matched, the child's own traffic handed on.

Bosun never sends a client's id upstream: every request to the child gets a fresh integer from
this connection's counter, so fifty clients that all use id `1` (or `"1"`) cannot collide, and
an answer can only reach the request that asked for it. The client's id is restored by the
endpoint, which never lost it.

A line the child writes is parsed once. What it is decides where it goes:
* an answer to one of ours resolves that request's future;
* a request of the child's (elicitation, sampling, roots, ping) goes to `on_request`;
* a notification goes to `on_notification`.
A child that writes something else is tolerated for a while (some print a banner) and then cut
off; a line over the limit cuts it off at once, since what followed it can no longer be trusted.
When the child's stdout ends, every request still waiting fails at once: no caller hangs.

A request's timeout covers its sending too: a child that stops reading (SIGSTOPped, wedged) fills
its stdin pipe, and a caller waiting to write to it must fail at the timeout like one waiting for an
answer. A connection that is over leaves no process behind: if the child still runs when its
stdout ends or its stdin breaks, it is stopped (the pool has already forgotten it, so nobody else would).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from bosun.bridge.process import ChildProcess
from bosun.ops.logs import bounded
from bosun.protocol.errors import INTERNAL_ERROR, McpError

log = logging.getLogger("bosun.bridge")
_GARBAGE_LINES = 100  # lines that are not JSON-RPC before the child is cut off
_LINGER = 1.0  # how long a child whose connection ended may take to exit before it is stopped


class ChildGone(McpError):
    """The child exited or was cut off while a request to it was waiting: a retryable failure."""

    retry_after = 1

    def __init__(self, why: str) -> None:
        super().__init__(INTERNAL_ERROR, f"The bridged server is unavailable: {why}; retry later", http_status=503)
        self.why = why


OnRequest = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
OnNotification = Callable[[dict[str, Any]], None]


class Link(Protocol):
    """A JSON-RPC connection to one child, whatever carries it: its stdio (`Upstream`) or HTTP to a remote server
    (bridge/http/link.py). What `Child` and the handshake use of it."""

    closed: str | None
    """Why the connection is over, once it is."""

    def mint(self) -> int: ...

    async def request(self, method: str, params: dict[str, Any], timeout: float,
                      request_id: int | None = None) -> dict[str, Any]: ...

    async def notify(self, method: str, params: dict[str, Any]) -> None: ...

    def notify_now(self, method: str, params: dict[str, Any]) -> None: ...

    def close(self, why: str, stop_process: bool = True) -> None: ...


class Upstream:
    """The JSON-RPC connection to one child."""

    def __init__(self, process: ChildProcess, on_request: OnRequest, on_notification: OnNotification) -> None:
        self.process = process
        self.on_request = on_request
        self.on_notification = on_notification
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed: str | None = None  # why, once the connection is over
        self._ender: asyncio.Task[None] | None = None
        self._reader = asyncio.create_task(self._read())

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def mint(self) -> int:
        return next(self._ids)

    async def request(self, method: str, params: dict[str, Any], timeout: float, request_id: int | None = None) -> dict[str, Any]:
        """Send a request and wait for its result; an error answer raises `McpError` with the child's code."""
        if self.closed is not None:
            raise ChildGone(self.closed)
        minted = request_id if request_id is not None else self.mint()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[minted] = future
        try:
            async with asyncio.timeout(timeout):  # the write (a full pipe) and the answer, together
                await self._send({"jsonrpc": "2.0", "id": minted, "method": method, "params": params})
                answer = await future
        finally:
            self._pending.pop(minted, None)
        error = answer.get("error")
        if error is not None:
            code = error.get("code") if type(error) is dict else None
            message = error.get("message") if type(error) is dict else None
            raise McpError(code if type(code) is int else INTERNAL_ERROR, bounded(str(message or "error"), 2000),
                           error.get("data") if type(error) is dict else None)
        result = answer.get("result")
        return result if type(result) is dict else {}

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.closed is None:
            await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def notify_now(self, method: str, params: dict[str, Any]) -> None:
        """Queue a notification without waiting for room in the child's stdin: for `notifications/cancelled`
        after a timeout, whose usual cause is a child that is not reading (the caller's error must not wait)."""
        if self.closed is None:
            try:
                self.process.write(orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params}) + b"\n")
            except (BrokenPipeError, ConnectionResetError, RuntimeError) as failure:
                self.close(f"its stdin is closed ({type(failure).__name__})")

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            self.process.write(orjson.dumps(message) + b"\n")
            await self.process.drain()
        except (BrokenPipeError, ConnectionResetError, RuntimeError) as failure:
            self.close(f"its stdin is closed ({type(failure).__name__})")
            raise ChildGone(self.closed or "gone") from None

    async def _reply(self, request_id: Any, result: dict[str, Any] | None, error: dict[str, Any] | None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error is not None:
            message["error"] = error
        else:
            message["result"] = result or {}
        with contextlib.suppress(ChildGone):
            await self._send(message)

    async def _read(self) -> None:
        stream = self.process.stdout
        garbage = 0
        why = "it exited"
        while True:
            try:
                line = await stream.readline()
            except ValueError:
                why = "it wrote a line longer than the bridge's max line size"
                self.process.reason = "cut off: line too long"
                log.warning("bridge %s: pid %d wrote a line over the limit; cutting it off", self.process.name, self.process.pid)
                break
            except (OSError, asyncio.CancelledError):
                break
            if not line:
                break
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                message = None
            if type(message) is not dict:
                if line.strip():
                    garbage += 1
                    if garbage == 1 or garbage % 20 == 0:
                        log.warning("bridge %s: pid %d wrote a line that is not JSON-RPC: %s", self.process.name,
                                    self.process.pid, bounded(line.decode("utf-8", "replace").strip(), 200))
                    if garbage > _GARBAGE_LINES:
                        why = "it wrote too many lines that are not JSON-RPC"
                        self.process.reason = "cut off: not speaking JSON-RPC"
                        log.warning("bridge %s: pid %d wrote more than %d lines that are not JSON-RPC; cutting it off",
                                    self.process.name, self.process.pid, _GARBAGE_LINES)
                        break
                continue
            self._dispatch(message)
        self.close(why)

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if type(method) is not str:
            request_id = message.get("id")
            future = self._pending.get(request_id) if type(request_id) is int else None
            if future is not None and not future.done():
                future.set_result(message)
            return
        if "id" in message:
            task = asyncio.create_task(self._answer(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            self.on_notification(message)
        except Exception:
            log.exception("bridge %s: handling a notification of the child failed", self.process.name)

    async def _answer(self, message: dict[str, Any]) -> None:
        """The child asked something (elicitation, sampling, roots, ping): route it and answer it, always."""
        try:
            result = await self.on_request(message)
        except McpError as failure:
            await self._reply(message.get("id"), None, failure.to_error())
        except Exception:
            log.exception("bridge %s: answering the child's %s failed", self.process.name, bounded(str(message["method"]), 100))
            await self._reply(message.get("id"), None, {"code": INTERNAL_ERROR, "message": "The bridge could not answer"})
        else:
            await self._reply(message.get("id"), result, None)

    def close(self, why: str, stop_process: bool = True) -> None:
        """End the connection: every waiting request fails now with `why`, and a child still running
        is stopped (`stop_process=False` for a caller that stops it itself)."""
        if self.closed is not None:
            return
        self.closed = why
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChildGone(why))
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        if stop_process and self.process.alive:
            self._ender = asyncio.get_running_loop().create_task(self._end())

    async def _end(self) -> None:
        """Stop the child now if it was cut off; else give it a moment to exit on its own (its stdout usually
        ends just before its exit is seen), and stop it if it lingers on without a connection."""
        if not self.process.reason.startswith("cut off"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.exited(), _LINGER)
        if self.process.alive:
            cut = self.process.reason.startswith("cut off")
            reason = self.process.reason if cut else "stopped (it lived on after its connection ended)"
            await self.process.stop(0.5, reason)
