"""The audit trail: one structured record per tools/call, resources/read and prompts/get, and per refusal.

BOSUN_AUDIT=all records both; `refusals` (the default when authenticating) only
refusals, which cost nothing in the steady state; `off` neither.

Each record says when, which request, who (principal, client, issuer, how they
authenticated), what (method and target), how it went and how long it took.
Arguments are included only with BOSUN_AUDIT_ARGUMENTS=true, and then with values
under secret-looking names masked and secret-looking strings (a bare JWT, a `bsk_`
key, `token=...`, a URL's password) redacted. Tokens are never recorded. Every
string a request brought (method, target, peer, JSON-RPC id) is bounded
(`bosun.ops.logs.bounded`), so a refused 1 MiB method name costs a few hundred
bytes of trail, not a mebibyte.

Records are JSON lines marked `"logger": "bosun.audit"`, written apart from the
application's logs so operators can ship them separately (BOSUN_AUDIT_LOG):

* `stderr` (default) or `stdout`: the container's log stream, one line per record;
* a file path: appended to (a sidecar or node agent tails it);
* `logging`: through Python's `logging.getLogger("bosun.audit")`, for custom handlers.

The stream and file sinks are on the request path, so they are built for it: a
record is serialized once with orjson and buffered, and the buffer is written
with one system call per event-loop turn (at most 50 ms later), not one per record.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import time
from typing import Any, Protocol

import orjson

from bosun.ops.logs import FIELD_CHARS, bounded, redact, request_id
from bosun.protocol.principal import Principal

audit_log = logging.getLogger("bosun.audit")
_SECRET_NAME = re.compile(r"(?i)pass(word|wd|phrase)?|secret|token|api[_-]?key|credential|authori[sz]ation|private[_-]?key|cookie"
                          r"|jwt|bearer|signature|session[_-]?id|^auth[_.-]|(?:^|[_.-])(?:auth|key|sig|otp|pin)$|(?-i:[a-z]Key$)")
_MAX_DEPTH = 6
_MAX_STRING = 1024
_FLUSH_SECONDS = 0.05
_FLUSH_BYTES = 64 * 1024
_LINE_START = b'{"ts":"%s","level":"info","logger":"bosun.audit","msg":"audit","request_id":%s,"audit":'
_LINE_END = b',"duration_ms":%.3f,"jsonrpc_id":%s}}'


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` safe to log: secret-named fields masked, strings redacted and trimmed, depth bounded."""
    if depth > _MAX_DEPTH:
        return "[...]"
    if isinstance(value, dict):
        return {str(key)[:128]: "[REDACTED]" if _SECRET_NAME.search(str(key)) else scrub(item, depth + 1)
                for key, item in list(value.items())[:64]}
    if isinstance(value, list):
        return [scrub(item, depth + 1) for item in value[:64]]
    if isinstance(value, str):
        return redact(value[:_MAX_STRING])
    return value


class Sink(Protocol):
    def write(self, entry: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...


class LoggingSink:
    """Through `logging`: slower, but any handler an operator configures applies."""

    def __init__(self) -> None:
        if audit_log.level == logging.NOTSET:
            audit_log.setLevel(logging.INFO)  # the trail does not depend on LOG_LEVEL

    def write(self, entry: dict[str, Any]) -> None:
        audit_log.info("audit %s %s %s", entry["method"], entry["target"] or "-", entry["outcome"], extra={"audit": entry})

    def flush(self) -> None:
        return None


class StreamSink:
    """JSON lines to a file descriptor, buffered and written once per event-loop turn."""

    def __init__(self, destination: str) -> None:
        if destination in ("stderr", "stdout"):
            self.fd = 2 if destination == "stderr" else 1
        else:
            self.fd = os.open(destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._buffer: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self._millisecond = -1
        self._second = -1
        self._second_stamp = b""
        self._stamp = b""
        self._templates: dict[tuple[str | None, ...], bytes] = {}
        atexit.register(self.flush)

    def write(self, entry: dict[str, Any]) -> None:
        rid = request_id.get()
        line = {"ts": self._now(), "level": "info", "logger": "bosun.audit", "msg": "audit", "request_id": rid, "audit": entry}
        self._append(orjson.dumps(line, default=str))

    def _now(self) -> str:
        return self._now_bytes().decode()

    def _now_bytes(self) -> bytes:
        """The record's time stamp, to the millisecond. At thousands of records a second the millisecond changes
        on almost every record, so the part formatted by `strftime` (about 1 us) is kept for the whole second."""
        now = time.time()
        millisecond = int(now * 1000)
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            second = millisecond // 1000
            if second != self._second:
                self._second = second
                self._second_stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
            self._stamp = b"%s.%03dZ" % (self._second_stamp, millisecond % 1000)
        return self._stamp

    def _append(self, data: bytes) -> None:
        self._buffer.append(data)
        self._size += len(data) + 1
        if self._size >= _FLUSH_BYTES:
            self._write_out()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(_FLUSH_SECONDS, self.flush)
                self._scheduled = True
            except RuntimeError:
                self._write_out()  # no event loop (a CLI, a test): write now

    def write_record(self, principal: Principal | None, method: str, target: str | None, outcome: str, seconds: float,
                     jsonrpc_id: Any) -> None:
        """The same line as `write` would make, from a template per (caller, method, target, outcome).

        This runs once per tool call, and a caller calls the same tools again and again: only the
        time, the request id, the duration and the JSON-RPC id are filled in per record.
        """
        key = (principal.key, principal.client_id, principal.method, method, target, outcome) if principal is not None else (
            None, None, None, method, target, outcome)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) >= 4096:
                self._templates.clear()
            fixed = orjson.dumps({**_who(principal), "method": method, "target": _safe(target), "outcome": outcome})
            template = self._templates[key] = _LINE_START + fixed[:-1].replace(b"%", b"%%") + _LINE_END
        rid = request_id.get()  # generated or checked by RequestIdMiddleware: URL-safe characters only
        number = jsonrpc_id if type(jsonrpc_id) in (int, str) else None
        self._append(template % (self._now_bytes(), b'"%s"' % rid.encode() if rid is not None else b"null", seconds * 1000,
                                 str(number).encode() if type(number) is int else orjson.dumps(
                                     bounded(number) if type(number) is str else number)))

    def flush(self) -> None:
        self._scheduled = False
        self._write_out()

    def _write_out(self) -> None:
        if not self._buffer:
            return
        self._buffer.append(b"")
        data = b"\n".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except BlockingIOError:
            return  # a full non-blocking pipe: drop rather than stall the event loop
        except OSError:
            return


class Audit:
    """Writes audit records; with `enabled` False every call is a no-op."""

    __slots__ = ("calls", "arguments", "sink")

    def __init__(self, enabled: bool = True, arguments: bool = False, destination: str = "stderr", calls: bool = True) -> None:
        self.calls = enabled and calls
        """Whether every call is recorded (BOSUN_AUDIT=all), not only refusals."""
        self.arguments = arguments
        self.sink: Sink | None = None
        if enabled:
            self.sink = LoggingSink() if destination == "logging" else StreamSink(destination)

    def record(self, principal: Principal | None, method: str, target: str | None, outcome: str, seconds: float,
               request_id: Any = None, arguments: Any = None, peer: str | None = None, via: str | None = None) -> None:
        """`via` names what served the call when it is not the server's own function (a bridge)."""
        if self.sink is None:
            return
        # Bounded here, on the hot path, with two length checks; the rest (redaction, the id) where the line is built.
        if target is not None and len(target) > FIELD_CHARS:
            target = bounded(target)
        if len(method) > FIELD_CHARS:
            method = bounded(method)
        sink = self.sink
        if peer is None and via is None and not self.arguments and type(sink) is StreamSink:
            sink.write_record(principal, method, target, outcome, seconds, request_id)
            return
        target = _safe(target)
        if type(request_id) is str and len(request_id) > FIELD_CHARS:
            request_id = bounded(request_id)
        if peer is not None and len(peer) > 64:
            peer = bounded(peer, 64)
        entry: dict[str, Any] = {
            **_who(principal),
            "method": method,
            "target": target,
            "outcome": outcome,
            "duration_ms": int(seconds * 1_000_000) / 1000,
            "jsonrpc_id": request_id if type(request_id) in (int, str) else None,
        }
        if peer is not None:
            entry["peer"] = peer
        if via is not None:
            entry["via"] = bounded(via, 100)
        if self.arguments and arguments is not None:
            entry["arguments"] = scrub(arguments)
        sink.write(entry)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()


def _safe(target: str | None) -> str | None:
    """A target with the credentials a URI may carry (in its query, its userinfo, a bare token) redacted."""
    if target is not None and ("=" in target or "@" in target or "eyJ" in target or "bsk_" in target):
        return redact(target)
    return target


def _who(principal: Principal | None) -> dict[str, str | None]:
    """The caller's fields of a record, bounded: a subject or client id is whatever the issuer put in the token."""
    if principal is None:
        return {"principal": None, "client_id": None, "issuer": None, "auth": None}
    client = principal.client_id
    return {"principal": bounded(principal.key, 2 * FIELD_CHARS), "client_id": bounded(client) if client is not None else None,
            "issuer": bounded(principal.issuer) if principal.issuer is not None else None, "auth": principal.method}
