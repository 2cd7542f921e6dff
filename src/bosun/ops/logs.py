"""Structured logs: JSON lines in production, readable text on a terminal; secrets never printed.

Every record carries the request id of the request it was logged under (and the
trace id when tracing is on). Nothing is logged per request unless the access log
is switched on: a busy server's logs are for events, not traffic.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id: ContextVar[str | None] = ContextVar("bosun_request_id", default=None)
trace_id: ContextVar[str | None] = ContextVar("bosun_trace_id", default=None)

_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [REDACTED]"),
    (re.compile(r"(?i)((?:api[_-]?key|access[_-]?token|refresh[_-]?token|token|secret|password|passwd|authorization)"
                r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)(postgres(?:ql)?(?:\+\w+)?://[^:/\s]+:)[^@\s]+@"), r"\1[REDACTED]@"),
    (re.compile(r"(?i)(redis://[^:/\s]*:)[^@\s]+@"), r"\1[REDACTED]@"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@"), r"\1[REDACTED]@"),  # any URL's user:password@
]
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


class Throttled:
    """A warning said at most once per `seconds`, with how many were held back: an outage seen by every
    request must not become a log line per request."""

    def __init__(self, logger: logging.Logger, seconds: float = 30.0) -> None:
        self.logger = logger
        self.seconds = seconds
        self._last = -1e18
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.seconds:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        if held:
            self.logger.warning(message + " (and %d more like it since the last report)", *args, held)
        else:
            self.logger.warning(message, *args)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        tid = trace_id.get()
        if tid is not None:
            entry["trace_id"] = tid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        rid = request_id.get()
        return f"{text} [request {rid}]" if rid is not None else text


def configure_logging(level: str = "INFO", fmt: str = "auto", access_log: bool = False) -> None:
    """Route Bosun's, uvicorn's and the application's logs through one handler on stderr."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = not access_log
    if root.level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # plugin set-up chatter at INFO

