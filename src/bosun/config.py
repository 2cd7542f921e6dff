"""Settings read from the environment, once, at start-up.

`BOSUN_*` variables; an invalid value stops start-up with a message naming the
variable and the form it expects (`ConfigError`, which the CLI turns into exit 2).
"""

from __future__ import annotations

import os

from bosun.protocol.request_state import decode_key
from bosun.transport.options import HttpOptions


class ConfigError(ValueError):
    pass


def _list(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _number(name: str, default: float, minimum: float = 0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def http_options_from_env(bind_host: str | None = None) -> HttpOptions:
    path = os.environ.get("BOSUN_PATH", "/mcp")
    if not path.startswith("/"):
        raise ConfigError(f"BOSUN_PATH={path!r} must start with '/'")
    return HttpOptions(
        path=path.rstrip("/") or "/",
        bind_host=bind_host or os.environ.get("BOSUN_HOST", "127.0.0.1"),
        allowed_origins=_list("BOSUN_ALLOWED_ORIGINS"),
        allowed_hosts=_list("BOSUN_ALLOWED_HOSTS"),
        max_body_bytes=int(_number("BOSUN_MAX_BODY_BYTES", 4 * 1024 * 1024, 1024)),
        session_idle_seconds=_number("BOSUN_SESSION_IDLE_SECONDS", 1800.0, 1),
        client_request_timeout=_number("BOSUN_CLIENT_REQUEST_TIMEOUT", 300.0, 1),
        keepalive_seconds=_number("BOSUN_SSE_KEEPALIVE_SECONDS", 15.0, 1),
    )


def state_keys_from_env() -> list[bytes]:
    """BOSUN_STATE_KEYS: comma-separated keys; the first seals, all open (rotation)."""
    return [decode_key(key) for key in _list("BOSUN_STATE_KEYS")]
