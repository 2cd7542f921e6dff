"""HTTP/1.1 connections that no client can use to hurt the others.

uvicorn's httptools protocol is fast but trusts its peers: it has no header size
or count limit (a 96 MB header stalls the event loop for seconds while the parser
grows it), no deadline for a request's head or body (a slowloris holds a
connection forever), no bound on open connections (idle ones exhaust the file
descriptor limit) and, on shutdown, it closes idle keep-alive connections that a
client may be writing its next request into. `GuardedHttpProtocol` is that
protocol with those holes closed; everything else (parsing, the ASGI cycle,
flow control) is uvicorn's own.

Limits, all from `ConnectionLimits` (settings `BOSUN_MAX_HEADER_BYTES`, ...):

* the head (request line and headers) is at most `max_header_bytes`, with at most
  `max_headers` fields: past either, 431 and close, before the parser sees more;
* the head must arrive within `header_timeout` of the connection opening or of
  the request's first byte, and the body within `body_timeout` of the end of the
  head (while the application is reading it): otherwise 408 and close; deadlines
  are checked by one sweep over all connections, so no request arms a timer;
* at most `max_connections` are open: a new one beyond that replaces the
  longest-idle connection (one with no request on it), or, when every connection
  is busy, is answered 503 (probes excepted, so liveness never fails for load);
* a request read in full is the application's: no connection deadline cuts a long
  call or a stream while its response is being produced;
* a request answered before its body was read (413) keeps its connection: the
  rest of the body is read and discarded, up to `linger_bytes`, so the client
  reads the answer instead of a reset;
* a connection closed while the client is still sending (a 431, a 413 with
  `Connection: close`, a 400 or 408 mid-request) is closed the way nginx's
  lingering close does it: the answer, then a FIN, then what the client still
  sends is read and discarded (at most `linger_bytes`, or 1 MiB after a refused
  head; `linger_seconds` in all; a second of silence ends it), because closing a
  socket with unread input makes the kernel send a reset that can destroy the
  answer before the client reads it;
* while draining (`begin_drain`), every response carries `Connection: close`;
  at shutdown a connection is closed only once it has been silent for a second
  with nothing waiting in its socket (a client that was just answered, or just
  connected, is about to send), and a request that does arrive is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import struct
import termios
from dataclasses import replace
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bosun.transport.connection.coalescing import CoalescingTransport
from bosun.transport.connection.refusals import log_refusal, over_capacity, refusal
from bosun.transport.http.options import ConnectionLimits

log = logging.getLogger("bosun.connections")
PROBE_PATHS = frozenset({b"/health", b"/ready", b"/startup"})
_OVERFLOW = 64  # connections allowed past the cap, to read their head and answer a probe or a 503
_RESERVED_DESCRIPTORS = 128  # database and Redis pools, log files, the listener, outbound HTTP
_SHUTDOWN_GRACE = 1.0  # while shutting down, how long a connection may stay silent before it is closed
_LINGER_SILENCE = 1.0  # a lingering connection silent this long is closed: the client has stopped sending
_HEAD_LINGER_BYTES = 1 << 20  # discarded after a refused head: a real client's head is far smaller


class _Shared:
    """Process-wide state every connection reads: the limits and whether the server is draining."""

    limits = ConnectionLimits()
    draining = False


def configure(limits: ConnectionLimits) -> ConnectionLimits:
    """Use `limits` in this process, with `max_connections` lowered to what the descriptor limit allows."""
    fitting = _fit_descriptors(limits.max_connections)
    if fitting < limits.max_connections:
        log.warning("BOSUN_MAX_CONNECTIONS=%d does not fit the open-file limit; using %d", limits.max_connections, fitting)
        limits = replace(limits, max_connections=fitting)
    _Shared.limits = limits
    return limits


def _fit_descriptors(wanted: int) -> int:
    """Raise the soft open-file limit toward the hard one (as Go's runtime does) and return how many
    connections fit under it, leaving room for the overflow, the pools, logs and the listener."""
    import resource

    needed = wanted + _OVERFLOW + _RESERVED_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(8, min(wanted, soft - _OVERFLOW - _RESERVED_DESCRIPTORS))


def begin_drain() -> None:
    """From now on, every response closes its connection, so clients move to another replica."""
    _Shared.draining = True


def _pending_bytes(transport: asyncio.BaseTransport) -> bool:
    """Whether the client has sent bytes that the event loop has not delivered yet (a request on its way)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        available: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except (OSError, ValueError):
        return False
    return available > 0


_SWEEP_SECONDS = 0.5
_CLOSES_PER_SLICE = 32
_SLICE_PAUSE = 0.005


def _ensure_sweeper(loop: asyncio.AbstractEventLoop, state: Any) -> None:
    """Start the deadline sweep for this server's connections, if it is not running."""
    if getattr(state, "bosun_sweeper", None) is None:
        state.bosun_sweeper = loop.call_later(_SWEEP_SECONDS, _sweep, loop, state)


def _sweep(loop: asyncio.AbstractEventLoop, state: Any) -> None:
    """Close what is past its deadline, a slice at a time: 2,000 connections timing out together must
    not stall the event loop for the requests being served meanwhile."""
    now = loop.time()
    closed = 0
    for connection in list(state.connections):
        if isinstance(connection, GuardedHttpProtocol) and connection._check_deadline(now):
            closed += 1
            if closed >= _CLOSES_PER_SLICE:
                state.bosun_sweeper = loop.call_later(_SLICE_PAUSE, _sweep, loop, state)
                return
    state.bosun_sweeper = loop.call_later(_SWEEP_SECONDS, _sweep, loop, state) if state.connections else None


def _last_active(connection: GuardedHttpProtocol) -> float:
    return connection._active


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = _Shared.limits
        self._head_open = True  # reading a request's head, or waiting for one
        self._head_bytes = 0
        self._tail = b""
        self._phase_started = self.loop.time()  # when the current head or body began arriving
        self._active = self._phase_started  # last activity, for choosing which idle connection to close
        self._over_cap = False
        self._too_many_headers = False
        self._discarded = 0
        self._answered = 0
        self._shutting_down = False
        self._lingering = False
        self._linger_limit = 0
        self._raw: asyncio.Transport | None = None

    # Connection life cycle.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw = transport
        self.transport = CoalescingTransport(transport, self.loop, self._linger)  # type: ignore[assignment]
        if len(self.connections) > self.limits.max_connections and not self._make_room():
            if len(self.connections) > self.limits.max_connections + _OVERFLOW:
                transport.close()
                return
            self._over_cap = True
        _ensure_sweeper(self.loop, self.server_state)

    def _busy(self) -> bool:
        """A request is being answered on this connection, or has begun arriving."""
        cycle = self.cycle
        return (cycle is not None and not cycle.response_complete) or self._head_bytes > 0 or not self._head_open

    def _make_room(self) -> bool:
        """Close the longest-idle connection (with no bytes waiting on it) to admit this one."""
        idle = [c for c in self.connections if isinstance(c, GuardedHttpProtocol) and c is not self and not c._busy()]
        while idle:
            oldest = min(idle, key=_last_active)
            if not _pending_bytes(oldest.transport):
                oldest.transport.close()
                return True
            idle.remove(oldest)
        return False

    # Deadlines: checked by one sweep over all connections twice a second, so no request arms a timer.
    def _check_deadline(self, now: float) -> bool:
        """Act on a passed deadline; True when this connection was closed for it."""
        if self.transport is None or self.transport.is_closing():
            return False
        cycle = self.cycle
        started = self._phase_started
        if self._lingering:
            if now - self._active < _LINGER_SILENCE and now - started < self.limits.linger_seconds:
                return False
            self.transport.close()  # the client had its chance to read the refusal
            return True
        if self._head_open:
            if self._head_bytes == 0 and cycle is not None and not cycle.response_complete:
                return False  # read in full and being answered (a long call, a stream): no connection deadline applies
            limit = self.limits.header_timeout
            if self._head_bytes == 0 and self._shutting_down:
                # Silent while shutting down: closed once it has been silent for a moment, since a client
                # that was just answered (or just connected) is about to send its next request.
                limit, started = min(limit, _SHUTDOWN_GRACE), self._active
            elif self._head_bytes == 0 and self._answered > 0:
                # Idle between requests: the keep-alive timeout, kept here rather than by a timer per response.
                if now - self._active < self.timeout_keep_alive:
                    return False
                self.timeout_keep_alive_handler()
                return self.transport.is_closing()
        elif cycle is not None and cycle.more_body and (cycle.response_complete or not self.flow.read_paused):
            limit = self.limits.body_timeout  # the client is sending a body (or the rest of a refused one)
        else:
            return False  # the application has the request; its own timeouts apply
        if now - started < limit:
            return False
        self._timed_out()
        return self.transport.is_closing()

    def _timed_out(self) -> None:
        cycle = self.cycle
        if self._head_open and self._head_bytes == 0:
            if self._shutting_down and _pending_bytes(self.transport):
                return  # its request is being delivered; the next sweep looks again
            self.transport.close()  # nothing sent: an idle connection, closed without a word
            return
        if not self._head_open and cycle is not None:
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                log_refusal(408, self.client)
                self.transport.close()
                return
        self._refuse(408, b"Request Timeout", "Request Timeout: the request did not arrive in time")

    def _refuse(self, status: int, reason: bytes, message: str) -> None:
        log_refusal(status, self.client)
        self.transport.write(refusal(status, reason, message))
        self.transport.close()

    def _linger(self) -> bool:
        """Close by lingering when the client may still be sending; True when that took the close over.

        Closing a socket with unread input makes the kernel answer with a reset, and a client that
        writes its whole request before reading (or sent `Connection: close`) then loses the answer.
        So the answer leaves with a FIN after it, and the input is read and discarded until the client
        closes, falls silent, or passes the bounds; the sweep ends it (`_check_deadline`)."""
        raw = self._raw
        if self._lingering or raw is None or raw.is_closing() or not raw.can_write_eof():
            return False
        cycle = self.cycle
        refused_head = self._head_bytes > 0
        unread_body = not self._head_open and cycle is not None and cycle.more_body
        if not (refused_head or unread_body or _pending_bytes(raw)):
            return False
        self._lingering = True
        self._linger_limit = _HEAD_LINGER_BYTES if refused_head else self.limits.linger_bytes
        self._discarded = 0
        self._phase_started = self._active = self.loop.time()
        try:
            raw.write_eof()
        except OSError:
            return False
        self.flow.resume_reading()
        _ensure_sweeper(self.loop, self.server_state)
        return True

    # Reading.
    def data_received(self, data: bytes) -> None:
        self._active = self.loop.time()
        if self._lingering:  # answered and half-closed: only discarded, within the bound
            self._discarded += len(data)
            if self._discarded > self._linger_limit and self._raw is not None:
                self._raw.close()
            return
        self._unset_keepalive_if_required()
        if self._head_open:
            if self._head_too_large(data):
                self._refuse(431, b"Request Header Fields Too Large",
                             f"Request Header Fields Too Large: the limit is {self.limits.max_header_bytes} bytes")
                return
        elif self.cycle is not None and self.cycle.response_complete and self.cycle.more_body:
            # Answered before the body was read (a 413): discard the rest, within a bound, so the client reads it.
            self._discarded += len(data)
            if self._discarded > self.limits.linger_bytes:
                self._raw.close()  # type: ignore[union-attr]  # past the bound: no lingering on top
                return
        try:
            # No protocol upgrades here: an `Upgrade` request is served as plain HTTP/1.1.
            with contextlib.suppress(httptools.HttpParserUpgrade):
                self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._too_many_headers:
                self._refuse(431, b"Request Header Fields Too Large",
                             f"Request Header Fields Too Large: at most {self.limits.max_headers} header fields")
            else:
                self._refuse(400, b"Bad Request", "Bad Request: malformed HTTP")
            return

    def _head_too_large(self, data: bytes) -> bool:
        if self._head_bytes == 0:
            self._phase_started = self._active
        end = data.find(b"\r\n\r\n")
        if end < 0 and self._tail:  # the blank line may be split across two reads
            joined = (self._tail + data[:3]).find(b"\r\n\r\n")
            if joined >= 0:
                end = joined - len(self._tail)
                return self._head_bytes + end > self.limits.max_header_bytes
        if end < 0:
            self._head_bytes += len(data)
            self._tail = (self._tail + data)[-3:] if len(data) < 3 else data[-3:]
            return self._head_bytes > self.limits.max_header_bytes
        return self._head_bytes + end > self.limits.max_header_bytes

    def on_headers_complete(self) -> None:
        # Counted here rather than per field (a call per header is measurable on the hot path);
        # the head's byte limit already bounds how many fields can arrive.
        if len(self.headers) > self.limits.max_headers:
            self._too_many_headers = True
            raise httptools.HttpParserError("too many header fields")
        self._discarded = 0
        self._head_open = False
        self._head_bytes = 0
        self._tail = b""
        self._phase_started = self._active
        if self._over_cap and self.url.split(b"?", 1)[0] not in PROBE_PATHS:
            saved, self.app = self.app, over_capacity
            try:
                super().on_headers_complete()
            finally:
                self.app = saved
        else:
            super().on_headers_complete()
        if _Shared.draining or self._over_cap or self._shutting_down:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True

    def on_response_complete(self) -> None:
        """uvicorn's, less arming a keep-alive timer: the sweep closes idle connections (`_check_deadline`), which
        saves scheduling and cancelling a timer for every response (1.7 us each, about 3 % of a small request)."""
        self._answered += 1
        self._active = self.loop.time()
        self.server_state.total_requests += 1
        if self.transport.is_closing() or self._lingering:
            return
        self.flow.resume_reading()
        if self.pipeline:  # a pipelined request waits for this response: start it now
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)

    def timeout_keep_alive_handler(self) -> None:
        """The idle keep-alive timeout, except that a request already on its way is still served."""
        if not self.transport.is_closing() and _pending_bytes(self.transport):
            return
        super().timeout_keep_alive_handler()

    # Shutdown.
    def shutdown(self) -> None:
        """Let the request on its way, if any, be answered with `Connection: close`; close when silent."""
        self._shutting_down = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        self._check_deadline(self.loop.time())
