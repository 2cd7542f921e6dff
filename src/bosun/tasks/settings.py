"""The tasks extension's settings, from `BOSUN_TASKS_*` (docs/tasks.md lists them with their reasons)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

KNOWN = frozenset({"BOSUN_TASKS_TTL_SECONDS", "BOSUN_TASKS_MAX_TTL_SECONDS", "BOSUN_TASKS_POLL_SECONDS",
                   "BOSUN_TASKS_ENFORCE_POLL_INTERVAL", "BOSUN_TASKS_PER_PRINCIPAL", "BOSUN_TASKS_TOTAL",
                   "BOSUN_TASKS_CONCURRENCY", "BOSUN_TASKS_REDELIVERY_SECONDS", "BOSUN_TASKS_MAX_REDELIVERIES",
                   "BOSUN_TASKS_CANCEL_CHECK_SECONDS", "BOSUN_TASKS_GRACE_SECONDS"})


def _number(name: str, default: float, low: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw[:40]!r}") from None
    if value < low:
        raise ValueError(f"{name} must be at least {low:g}, got {value:g}")
    return value


@dataclass(frozen=True)
class TaskSettings:
    ttl_seconds: float = 3600.0  # how long a task and its result are kept, from its creation
    max_ttl_seconds: float = 86400.0  # the most a 2025-11-25 client may ask for (`params.task.ttl`)
    poll_seconds: float = 1.0  # the `pollIntervalMs` clients are told
    enforce_poll: bool = False  # refuse `tasks/get` polls much faster than that (-32029, counted)
    per_principal: int = 100  # unfinished tasks one caller may have
    total: int = 10_000  # unfinished tasks on the server
    concurrency: int = 16  # runs at once on one replica
    redelivery_seconds: float = 15.0  # docket: how long a dead replica's run waits before another takes it
    max_redeliveries: int = 3  # a run that killed its replica this often more ends `failed`
    cancel_check_seconds: float = 0.5  # how often a run reads its record for a cancel the engine's signal missed
    grace_seconds: float = 10.0  # at shutdown, how long runs under way may go on before they are handed back

    @classmethod
    def from_env(cls) -> TaskSettings:
        """The settings; a `BOSUN_TASKS_*` name that is none of them is said (config.py leaves the prefix to us)."""
        stray = sorted(name for name in os.environ if name.upper().startswith("BOSUN_TASKS_") and name.upper() not in KNOWN)
        if stray:
            logging.getLogger("bosun.config").warning("%s: not a tasks setting, ignored (known: %s)", ", ".join(stray),
                                                      ", ".join(sorted(KNOWN)))
        enforce = os.environ.get("BOSUN_TASKS_ENFORCE_POLL_INTERVAL", "").strip().lower() in ("1", "true", "yes", "on")
        return cls(
            ttl_seconds=_number("BOSUN_TASKS_TTL_SECONDS", cls.ttl_seconds, 1),
            max_ttl_seconds=_number("BOSUN_TASKS_MAX_TTL_SECONDS", cls.max_ttl_seconds, 1),
            poll_seconds=_number("BOSUN_TASKS_POLL_SECONDS", cls.poll_seconds, 0.05),
            enforce_poll=enforce,
            per_principal=int(_number("BOSUN_TASKS_PER_PRINCIPAL", cls.per_principal, 1)),
            total=int(_number("BOSUN_TASKS_TOTAL", cls.total, 1)),
            concurrency=int(_number("BOSUN_TASKS_CONCURRENCY", cls.concurrency, 1)),
            redelivery_seconds=_number("BOSUN_TASKS_REDELIVERY_SECONDS", cls.redelivery_seconds, 1),
            max_redeliveries=int(_number("BOSUN_TASKS_MAX_REDELIVERIES", cls.max_redeliveries, 0)),
            cancel_check_seconds=_number("BOSUN_TASKS_CANCEL_CHECK_SECONDS", cls.cancel_check_seconds, 0.05),
            grace_seconds=_number("BOSUN_TASKS_GRACE_SECONDS", cls.grace_seconds, 0),
        )
