"""Waiting in tests: poll a condition until it holds, within a bound, and fail naming what was awaited.

One helper for every test that waits for something another process does (a replica reconnecting, a child exiting,
a metric flushed), so each wait has a bound and a message, and none sleeps a fixed time hoping it was enough.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T | None], seconds: float = 5.0, what: str = "the condition", step: float = 0.05,
               ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """`check()`'s first truthy value, polled every `step` for up to `seconds`; then an AssertionError naming `what`.
    Errors of the `ignoring` types count as "not yet" (a server still starting refuses connections)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = check()
        except ignoring:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(step)


def timed(check: Callable[[], object], seconds: float = 10.0, what: str = "the condition") -> float:
    """How long `check()` took to hold (see `eventually`)."""
    started = time.monotonic()
    eventually(check, seconds, what)
    return time.monotonic() - started
