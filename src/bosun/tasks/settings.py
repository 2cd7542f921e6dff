"""The tasks extension's settings, from `BOSUN_TASKS_*` in the environment or `.env`, as Bosun's other settings
(docs/tasks.md lists them with their reasons)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from bosun.config_sources import read_dotenv

# (variable, TaskSettings field, lowest value); BOSUN_TASKS_ENFORCE_POLL_INTERVAL, a flag, is apart.
_NUMBERS = (("BOSUN_TASKS_TTL_SECONDS", "ttl_seconds", 1), ("BOSUN_TASKS_MAX_TTL_SECONDS", "max_ttl_seconds", 1),
            ("BOSUN_TASKS_POLL_SECONDS", "poll_seconds", 0.05), ("BOSUN_TASKS_PER_PRINCIPAL", "per_principal", 1),
            ("BOSUN_TASKS_TOTAL", "total", 1), ("BOSUN_TASKS_CONCURRENCY", "concurrency", 1),
            ("BOSUN_TASKS_REDELIVERY_SECONDS", "redelivery_seconds", 1),
            ("BOSUN_TASKS_MAX_REDELIVERIES", "max_redeliveries", 0),
            ("BOSUN_TASKS_CANCEL_CHECK_SECONDS", "cancel_check_seconds", 0.05),
            ("BOSUN_TASKS_GRACE_SECONDS", "grace_seconds", 0))
_FLAG = ("BOSUN_TASKS_ENFORCE_POLL_INTERVAL", "enforce_poll")
KNOWN = frozenset([name for name, _, _ in _NUMBERS] + [_FLAG[0]])


def _sources() -> dict[str, str]:
    """The environment over `.env`: where Bosun's own settings come from (a secret file holds no task setting)."""
    return {**read_dotenv(), **os.environ}


def _number(values: Mapping[str, str], name: str, default: float, low: float) -> float:
    raw = values.get(name, "").strip()
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
        given = _sources()
        stray = sorted(name for name in given if name.upper().startswith("BOSUN_TASKS_") and name.upper() not in KNOWN)
        if stray:
            logging.getLogger("bosun.config").warning("%s: not a tasks setting, ignored (known: %s)", ", ".join(stray),
                                                      ", ".join(sorted(KNOWN)))
        enforce = given.get(_FLAG[0], "").strip().lower() in ("1", "true", "yes", "on")
        values: dict[str, float | int | bool] = {_FLAG[1]: enforce}
        for name, field, low in _NUMBERS:
            value = _number(given, name, getattr(cls, field), low)
            values[field] = int(value) if isinstance(getattr(cls, field), int) else value
        return cls(**values)  # type: ignore[arg-type]


def described() -> list[tuple[str, str, str]]:
    """`bosun config`'s rows for these settings: (variable, effective value, where it came from). Raises
    ValueError, naming the variable, for a value `from_env` would refuse."""
    effective = TaskSettings.from_env()
    dotenv = read_dotenv()
    return [(name, str(getattr(effective, field)),
             "environment" if os.environ.get(name, "").strip() else ".env" if dotenv.get(name, "").strip() else "default")
            for name, field in [(name, field) for name, field, _ in _NUMBERS] + [_FLAG]]
