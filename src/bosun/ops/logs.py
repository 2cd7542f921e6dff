"""Structured logs: JSON lines in production, readable text on a terminal; secrets never printed.

Every record carries the request id of the request it was logged under (and the
trace id when tracing is on). Nothing is logged per request unless the access log
is switched on: a busy server's logs are for events, not traffic.

Whatever a client sent can reach a log line (a method name in an error, a JSON-RPC
id, a path): `bounded` cuts such a string to a few hundred characters, and the
formatters bound every message, so a request of 1 MiB cannot become a log line of
1 MiB. `redact` masks credentials by their shape (bearer values, `name=value` pairs
and query parameters with secret-looking names, a URL's password, bare JWTs and
Bosun API keys); the access log keeps query parameter names but never their values.
"""

from __future__ import annotations

import hashlib
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
    # Any URL's user:password@ (the user may be empty, as in redis://:pw@host; the password runs to the last @).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]*:)[^/\s]*@"), r"\1[REDACTED]@"),
    # A bare JWT (or the start of one: a bound may have cut it), a Bosun API key, a private key block.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,4}"), "[REDACTED-JWT]"),
    (re.compile(r"\bbsk_[A-Za-z0-9_-]{8,}"), "bsk_[REDACTED]"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
     "[REDACTED PRIVATE KEY]"),
]
# Query parameters whose names look secret (?key=, &jwt=, ?auth=, ?sig=, ?X-Amz-Credential=, ?code= ...); the
# name is matched separately (and is at most 64 characters), so a long text cannot make the search quadratic.
_QUERY = re.compile(r"([?&;])([^=&\s?#]{1,64})=([^&\s#\"']+)")
_SECRET_PARAMETER = re.compile(r"(?i)key|jwt|auth|token|secret|pass|pwd|sig|credential|session|code")
FIELD_CHARS = 200  # a request-derived string in a log line or audit record: method, target, peer, id
_MESSAGE_CHARS = 4096  # a whole log message
_EXCEPTION_CHARS = 16384  # a formatted traceback (its message may echo a request)
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
    if "=" in text:
        text = _QUERY.sub(_masked_parameter, text)
    return text


def _masked_parameter(match: re.Match[str]) -> str:
    if _SECRET_PARAMETER.search(match[2]) is None:
        return match[0]
    return f"{match[1]}{match[2]}=[REDACTED]"


def bounded(text: str, limit: int = FIELD_CHARS) -> str:
    """`text`, or its first `limit` characters with a marker giving the full length and a short hash.

    The hash tells apart (or matches up) long values that share a prefix, without keeping them:
    a flood of distinct 1 MiB method names becomes a few hundred bytes per record.
    """
    if len(text) <= limit:
        return text
    digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=6).hexdigest()
    return f"{text[:limit]}...[{len(text)} chars, {digest}]"


def _elided(text: str, limit: int) -> str:
    """The start and the end of a long text (a traceback's end says what went wrong)."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[:limit - tail]}\n...[{len(text) - limit} chars left out]...\n{text[-tail:]}"


def _clean(text: str, limit: int) -> str:
    """Bounded first, then redacted: the patterns never run over more than `limit` characters."""
    return redact(_elided(text, limit))


class _AccessFilter(logging.Filter):
    """uvicorn's access line with the path bounded and every query value masked.

    Bosun's endpoints take no query parameters (MCP carries everything in headers and body), so a
    query value is noise or a credential put where it does not belong (RFC 6750 section 5.3): the
    names stay, so an operator can see what a client sends, the values never reach the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, mark, query = args[2].partition("?")
            if mark:
                names = (item.partition("=") for item in re.split(r"[&;]", query) if item)
                path = f"{bounded(path)}?{bounded('&'.join(name + ('=[REDACTED]' if eq else '') for name, eq, _ in names))}"
            else:
                path = bounded(path)
            record.args = (bounded(str(args[0]), 100), bounded(str(args[1]), 32), path, *args[3:])
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _clean(record.getMessage(), _MESSAGE_CHARS),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        tid = trace_id.get()
        if tid is not None:
            entry["trace_id"] = tid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _clean(value, _MESSAGE_CHARS) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = _clean(self.formatException(record.exc_info), _EXCEPTION_CHARS)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = _clean(super().format(record), _MESSAGE_CHARS + _EXCEPTION_CHARS)
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
    access = logging.getLogger("uvicorn.access")
    access.disabled = not access_log
    if not any(isinstance(item, _AccessFilter) for item in access.filters):
        access.addFilter(_AccessFilter())
    if root.level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # plugin set-up chatter at INFO

