"""Probes: liveness from the event loop alone, readiness from checks run in the background.

* `/health` (liveness) never touches a dependency. It fails only when the process
  is wedged: the event loop has been blocked for longer than `max_loop_lag`, as
  seen by a heartbeat task. A database outage must never restart every pod.
* `/ready` (readiness) serves the last results of the registered checks, which a
  background task refreshes every `interval` seconds, all concurrently, each under
  its own timeout, so probes never storm a dependency. 503 while starting, while
  draining, or while a critical check fails; non-critical failures show in the
  body and in metrics but keep the pod ready.
* `/startup` is 503 until start-up work (hooks, the first round of checks) is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bosun.transport.wire import respond
from bosun.types import Receive, Scope, Send

CheckFn = Callable[[], Awaitable[Any]]
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
                 observer: Any = None) -> None:
        self.checks = checks
        self.interval = interval
        self.timeout = timeout
        self.max_loop_lag = max_loop_lag
        self.metrics = observer
        self.started = False
        self.draining = False
        self.results: dict[str, Outcome] = {}
        self._beat = time.monotonic()
        self._worst_lag = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    # Life cycle.
    async def start(self) -> None:
        """Run the checks once, then report started and keep them fresh in the background."""
        self._tasks.append(asyncio.create_task(self._heartbeat()))
        await self.refresh()
        self.started = True
        self._publish_ready()
        self._tasks.append(asyncio.create_task(self._refresher()))

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
                self.metrics.readiness.labels(check.name, str(check.critical).lower()).set(1 if outcome and outcome.ok else 0)
        self._publish_ready()

    async def _refresher(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def _heartbeat(self) -> None:
        period = 0.25
        while True:
            before = time.monotonic()
            await asyncio.sleep(period)
            now = time.monotonic()
            self._worst_lag = max(0.0, now - before - period)
            self._beat = now

    # Verdicts.
    def loop_lag(self) -> float:
        return max(self._worst_lag, time.monotonic() - self._beat - 0.25)

    def is_ready(self) -> bool:
        if not self.started or self.draining:
            return False
        return all(self.results.get(check.name, Outcome(False, "", 0)).ok for check in self.checks if check.critical)

    def _publish_ready(self) -> None:
        if self.metrics is not None:
            self.metrics.ready.set(1 if self.is_ready() else 0)

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
        else:
            await respond(send, 503, b'{"status":"starting"}', _JSON)
