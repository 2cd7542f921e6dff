"""Probes: liveness from the event loop alone, readiness from checks run in the background.

* `/health` (liveness) never touches a dependency. It fails only when the process
  is wedged: the event loop has been blocked for longer than `max_loop_lag`, as
  seen by a heartbeat task. A database outage must never restart every pod.
* `/ready` (readiness) serves the last results of the registered checks, which a
  background task refreshes every `interval` seconds, all concurrently, each under
  its own timeout, so probes never storm a dependency. 503 while starting, while
  draining, or while a critical check fails; non-critical failures show in the
  body and in metrics but keep the pod ready.
* `/startup` is 503 until start-up work is done: the warm-up hooks, run in the
  background once the port is open, and the first round of checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bosun.transport.wire import respond
from bosun.types import Receive, Scope, Send

CheckFn = Callable[[], Awaitable[Any]]
_BEAT = 0.25  # heartbeat period, seconds
_STALL_MEMORY = 2.0  # how long a measured stall keeps /health failing, seconds
_JSON = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))


@dataclass(frozen=True, slots=True)
class Check:
    """A readiness check: `fn` raises (or returns False) when the dependency is not usable."""

    name: str
    fn: CheckFn
    critical: bool = True
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str
    seconds: float


class Health:
    def __init__(self, checks: list[Check], interval: float = 5.0, timeout: float = 2.0, max_loop_lag: float = 5.0,
                 observer: Any = None, warmups: list[Callable[[], Awaitable[None]]] | None = None) -> None:
        self.checks = checks
        self.warmups = warmups or []
        self.interval = interval
        self.timeout = timeout
        self.max_loop_lag = max_loop_lag
        self.metrics = observer
        self.started = False
        self.draining = False
        self.results: dict[str, Outcome] = {}
        self._beat = time.monotonic()
        self._stall = 0.0
        self._stall_seen = 0.0
        self.startup_error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # Life cycle.
    async def start(self) -> None:
        """Begin the heartbeat and, in the background, warm up, run the checks once, report started."""
        self._tasks.append(asyncio.create_task(self._heartbeat()))
        self._tasks.append(asyncio.create_task(self._boot()))

    async def _boot(self) -> None:
        try:
            for warmup in self.warmups:
                await warmup()
        except Exception as exc:
            # Stay not-started: the startup probe fails and Kubernetes restarts the pod, with the reason in /startup.
            self.startup_error = f"{type(exc).__name__}: {exc}"
            logging.getLogger("bosun.health").exception("warm-up failed")
            return
        await self.refresh()
        self.started = True
        self._publish_ready()
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def begin_drain(self) -> None:
        """From now on /ready is 503, so the load balancer stops sending new work here."""
        self.draining = True
        self._publish_ready()

    # Checks.
    async def _run(self, check: Check) -> tuple[str, Outcome]:
        started = time.perf_counter()
        try:
            value = await asyncio.wait_for(check.fn(), check.timeout or self.timeout)
            ok, detail = (False, "check returned False") if value is False else (True, "ok")
        except TimeoutError:
            ok, detail = False, f"timed out after {check.timeout or self.timeout:g}s"
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
        return check.name, Outcome(ok, detail, round(time.perf_counter() - started, 4))

    async def refresh(self) -> None:
        if self.checks:
            self.results = dict(await asyncio.gather(*(self._run(check) for check in self.checks)))
        if self.metrics is not None:
            for check in self.checks:
                outcome = self.results.get(check.name)
                self.metrics.check(check.name, check.critical, bool(outcome and outcome.ok))
        self._publish_ready()

    async def _heartbeat(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(_BEAT)
            now = time.monotonic()
            lag = now - before - _BEAT
            if lag > self._stall or now - self._stall_seen > _STALL_MEMORY:
                self._stall, self._stall_seen = lag, now
            self._beat = now

    # Verdicts.
    def loop_lag(self) -> float:
        """The longest recent stall of the event loop, including one still going on."""
        now = time.monotonic()
        recent = self._stall if now - self._stall_seen <= _STALL_MEMORY else 0.0
        return max(recent, now - self._beat - _BEAT)

    def is_ready(self) -> bool:
        if not self.started or self.draining:
            return False
        return all(self.results.get(check.name, Outcome(False, "", 0)).ok for check in self.checks if check.critical)

    def _publish_ready(self) -> None:
        if self.metrics is not None:
            self.metrics.set_ready(self.is_ready())

    def readiness_body(self) -> dict[str, Any]:
        checks = {}
        for check in self.checks:
            outcome = self.results.get(check.name)
            entry: dict[str, Any] = {"ok": bool(outcome and outcome.ok), "critical": check.critical}
            if outcome is not None:
                entry["detail"] = outcome.detail
                entry["seconds"] = outcome.seconds
            checks[check.name] = entry
        status = "ready" if self.is_ready() else ("draining" if self.draining else "starting" if not self.started else "not ready")
        failing = [name for name, entry in checks.items() if not entry["ok"]]
        return {"status": status, "failing": failing, "checks": checks}

    # ASGI endpoints.
    async def health_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        lag = self.loop_lag()
        if lag > self.max_loop_lag:
            body = {"status": "wedged", "loop_lag_seconds": round(lag, 3)}
            await respond(send, 503, orjson.dumps(body), _JSON)
            return
        await respond(send, 200, b'{"status":"ok"}', _JSON)

    async def ready_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200 if self.is_ready() else 503, orjson.dumps(self.readiness_body()), _JSON)

    async def startup_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.started:
            await respond(send, 200, b'{"status":"started"}', _JSON)
        elif self.startup_error is not None:
            await respond(send, 503, orjson.dumps({"status": "failed", "error": self.startup_error}), _JSON)
        else:
            await respond(send, 503, b'{"status":"starting"}', _JSON)
