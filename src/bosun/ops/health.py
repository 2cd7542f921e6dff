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

Readiness follows reality faster than the interval without asking a healthy
dependency more often:

* a check may `watch` its dependency: the dependency reports what real work saw
  (`report(name, False)`: it failed, /ready turns 503 at once; `True` or `None`:
  run the check now), so an outage shows before the next round;
* while a critical check fails it is re-run every `retry_interval` (a cheap probe
  of something that is down), so recovery shows within that, not a full interval;
* live checks (`add_live_check`) are cheap synchronous verdicts, such as "is a
  store full", read at each /ready request rather than in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson

from bosun.asgi import respond
from bosun.types import Receive, Scope, Send

CheckFn = Callable[[], Awaitable[Any]]
Report = Callable[[bool | None, str], None]
"""What a watched dependency calls: False (it failed, and why), True (it works again) or None (look again now)."""
Watch = Callable[[Report], Callable[[], None]]
"""Subscribes a `Report` to a dependency and returns the way to unsubscribe it."""
LiveFn = Callable[[], tuple[bool, str]]
_BEAT = 0.25  # heartbeat period, seconds
_STALL_MEMORY = 2.0  # how long a measured stall keeps /health failing, seconds
_JSON = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))
log = logging.getLogger("bosun.health")


@dataclass(frozen=True, slots=True)
class Check:
    """A readiness check: `fn` raises (or returns False) when the dependency is not usable.

    `watch`, when given, subscribes Health to what the dependency itself notices (see `Report`)."""

    name: str
    fn: CheckFn
    critical: bool = True
    timeout: float | None = None
    watch: Watch | None = None


@dataclass(frozen=True, slots=True)
class LiveCheck:
    """A cheap synchronous verdict read at each /ready request: `fn()` returns (ok, detail) and must not block."""

    name: str
    fn: LiveFn
    critical: bool = True


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str
    seconds: float


class Health:
    def __init__(self, checks: list[Check], interval: float = 5.0, timeout: float = 2.0, max_loop_lag: float = 5.0,
                 observer: Any = None, warmups: list[Callable[[], Awaitable[None]]] | None = None,
                 live: list[LiveCheck] | None = None, retry_interval: float = 0.5) -> None:
        self.checks = checks
        self.live = list(live or [])
        self.warmups = warmups or []
        self.interval = interval
        self.retry_interval = min(retry_interval, interval)
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
        self._due: dict[str, float] = {}  # check name -> when to run it outside the regular rounds
        self._wake = asyncio.Event()
        self._unwatch: list[Callable[[], None]] = []

    def add_live_check(self, name: str, fn: LiveFn, critical: bool = True) -> None:
        """Register a synchronous check evaluated at every /ready request (cheap: no I/O, no locks held long)."""
        self.live.append(LiveCheck(name, fn, critical))

    # Life cycle.
    async def start(self) -> None:
        """Begin the heartbeat and, in the background, warm up, run the checks once, report started."""
        for check in self.checks:
            if check.watch is not None:
                self._unwatch.append(check.watch(self._reporter(check.name)))
        self._tasks.append(asyncio.create_task(self._heartbeat()))
        self._tasks.append(asyncio.create_task(self._boot()))

    async def _boot(self) -> None:
        try:
            for warmup in self.warmups:
                await warmup()
        except Exception as exc:
            # Stay not-started: the startup probe fails and Kubernetes restarts the pod, with the reason in /startup.
            self.startup_error = f"{type(exc).__name__}: {exc}"
            log.exception("warm-up failed")
            return
        await self.refresh()
        self.started = True
        self._publish_ready()
        await self._rounds()

    async def _rounds(self) -> None:
        """Every `interval` all checks; in between, only the ones due: failing critical checks and reported ones."""
        next_round = time.monotonic() + self.interval
        while True:
            wake_at = min(next_round, *self._due.values()) if self._due else next_round
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, wake_at - time.monotonic()))
            now = time.monotonic()
            if now >= next_round:
                await self.refresh()
                next_round = time.monotonic() + self.interval
            else:
                due = [name for name, when in self._due.items() if when <= now]
                if due:
                    await self.refresh(due)

    async def stop(self) -> None:
        for unwatch in self._unwatch:
            with contextlib.suppress(Exception):
                unwatch()
        self._unwatch.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def begin_drain(self) -> None:
        """From now on /ready is 503, so the load balancer stops sending new work here."""
        self.draining = True
        self._publish_ready()

    # What dependencies tell us between rounds.
    def _reporter(self, name: str) -> Report:
        def report(ok: bool | None, detail: str) -> None:
            self.report(name, ok, detail)

        return report

    def report(self, name: str, ok: bool | None, detail: str = "") -> None:
        """A dependency's own news: False marks the check failing now (retried soon); True or None re-run it now.

        Success is never taken on trust: a request that worked says nothing about, say, a schema the check
        also verifies, so it only brings the next run of the check forward."""
        check = next((check for check in self.checks if check.name == name), None)
        if check is None:
            return
        now = time.monotonic()
        if ok is False:
            current = self.results.get(name)
            if current is None or current.ok:
                self.results[name] = Outcome(False, detail or "reported failing", 0.0)
                self._publish_check(check)
                self._publish_ready()
            self._due.setdefault(name, now + self.retry_interval)
        else:
            self._due[name] = now
        self._wake.set()

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

    async def refresh(self, names: Collection[str] | None = None) -> None:
        """Run the checks (all, or the named ones) concurrently and publish what they found."""
        chosen = [check for check in self.checks if names is None or check.name in names]
        for check in chosen:
            self._due.pop(check.name, None)
        if chosen:
            self.results.update(await asyncio.gather(*(self._run(check) for check in chosen)))
        retry_at = time.monotonic() + self.retry_interval
        for check in chosen:
            if check.critical and not self.results[check.name].ok:
                self._due.setdefault(check.name, retry_at)
            self._publish_check(check)
        if self.metrics is not None and names is None:
            for live, outcome in self._live_outcomes():
                self.metrics.check(live.name, live.critical, outcome.ok)
        self._publish_ready()

    def _publish_check(self, check: Check) -> None:
        if self.metrics is not None:
            outcome = self.results.get(check.name)
            self.metrics.check(check.name, check.critical, bool(outcome and outcome.ok))

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

    def _live_outcomes(self) -> list[tuple[LiveCheck, Outcome]]:
        outcomes = []
        for check in self.live:
            started = time.perf_counter()
            try:
                ok, detail = check.fn()
            except Exception as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
            outcomes.append((check, Outcome(bool(ok), detail, round(time.perf_counter() - started, 6))))
        return outcomes

    def _verdict(self) -> tuple[bool, dict[str, Any]]:
        """Readiness and the /ready body, from one reading of the live checks."""
        rows: list[tuple[str, bool, Outcome | None]] = [(c.name, c.critical, self.results.get(c.name)) for c in self.checks]
        rows += [(c.name, c.critical, outcome) for c, outcome in self._live_outcomes()]
        checks: dict[str, dict[str, Any]] = {}
        critical_ok = True
        for name, critical, outcome in rows:
            entry: dict[str, Any] = {"ok": bool(outcome and outcome.ok), "critical": critical}
            if outcome is not None:
                entry["detail"] = outcome.detail
                entry["seconds"] = outcome.seconds
            checks[name] = entry
            critical_ok = critical_ok and (entry["ok"] or not critical)
        ready = self.started and not self.draining and critical_ok
        status = "ready" if ready else ("draining" if self.draining else "starting" if not self.started else "not ready")
        failing = [name for name, entry in checks.items() if not entry["ok"]]
        return ready, {"status": status, "failing": failing, "checks": checks}

    def is_ready(self) -> bool:
        return self._verdict()[0]

    def _publish_ready(self) -> None:
        if self.metrics is not None:
            self.metrics.set_ready(self.is_ready())

    def readiness_body(self) -> dict[str, Any]:
        return self._verdict()[1]

    # ASGI endpoints.
    async def health_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        lag = self.loop_lag()
        if lag > self.max_loop_lag:
            body = {"status": "wedged", "loop_lag_seconds": round(lag, 3)}
            await respond(send, 503, orjson.dumps(body), _JSON)
            return
        await respond(send, 200, b'{"status":"ok"}', _JSON)

    async def ready_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        ready, body = self._verdict()
        if self.metrics is not None:
            self.metrics.set_ready(ready)  # live checks change between rounds
        await respond(send, 200 if ready else 503, orjson.dumps(body), _JSON)

    async def startup_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.started:
            await respond(send, 200, b'{"status":"started"}', _JSON)
        elif self.startup_error is not None:
            await respond(send, 503, orjson.dumps({"status": "failed", "error": self.startup_error}), _JSON)
        else:
            await respond(send, 503, b'{"status":"starting"}', _JSON)
