"""Three Bosun replicas of tests/tasks_app.py on one private Redis, behind HAProxy round robin: what
tests/test_tasks_replicas*.py drive with plain 2026-07-28 requests.

HAProxy here is tests/balancer.py's (round robin, no affinity, loopback) plus what a deployment puts in front
of replicas that get killed and restarted: a `/ready` health check and a redispatch of requests that found
no replica (a refused connection, or an empty answer from one just killed). Without those a client would
meet HAProxy's own 503s for as long as a dead replica stays in rotation, which says nothing about Bosun.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from balancer import Balancer

from conftest import Running, free_port, modern_call, sse_messages, start_server
from pg import PrivateRedis

EXTENSION = "io.modelcontextprotocol/tasks"
CAPABILITIES = {"extensions": {EXTENSION: {}}}
TERMINAL = {"completed", "failed", "cancelled"}
REDELIVERY = 3.0  # BOSUN_TASKS_REDELIVERY_SECONDS in these tests
PICKUP_BOUND = 3 * REDELIVERY + 5  # a killed replica's run starts elsewhere within this (docket sweeps every timeout/4)


class CheckedBalancer(Balancer):
    """tests/balancer.py's HAProxy with its health checks, retries and stats (`checked`)."""

    def __init__(self, replicas: list[Running], directory: Path) -> None:
        super().__init__(replicas, directory, checked=True)

    def retried(self) -> dict[str, int]:
        """HAProxy's own count of requests it tried again (`wretr`) and sent to another replica (`wredis`): the
        ones that met a dead or stopping replica, which the client never saw."""
        rows = httpx.get(self.stats, timeout=5).text.lstrip("# ").splitlines()
        header = rows[0].split(",")
        backend = next(dict(zip(header, row.split(","), strict=False)) for row in rows[1:]
                       if row.startswith("replicas,BACKEND,"))
        return {"retries": int(backend["wretr"] or 0), "redispatches": int(backend["wredis"] or 0)}


def wait_ready(bases: list[str], seconds: float, path: str = "/ready") -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2) as http:
        for base in bases:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(base + path).status_code == 200:
                        break
                assert time.monotonic() < deadline, f"{base}{path} did not answer 200 within {seconds}s"
                time.sleep(0.05)


class Cluster:
    """The private Redis, three replicas on fixed ports (a restarted one comes back on its port), HAProxy."""

    def __init__(self, directory: Path, **env: str) -> None:
        self.directory = directory
        self.marks = directory / "marks"
        self.marks.mkdir()
        self.redis = PrivateRedis(free_port(), directory)
        self.redis.start()
        self.env = {"REDIS_URL": self.redis.url, "BOSUN_STATE_KEYS": "shared", "TASKS_MARKS": str(self.marks),
                    "BOSUN_TASKS_REDELIVERY_SECONDS": str(REDELIVERY), **env}
        self.ports = [free_port() for _ in range(3)]
        self.replicas: list[Running] = []
        self.exit_codes: list[int] = []  # of the replicas stopped with SIGTERM: a drained shutdown exits 0
        self.balancer: CheckedBalancer | None = None
        try:
            self.replicas = [self._start(index) for index in range(3)]
            self.balancer = CheckedBalancer(self.replicas, directory)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        assert self.balancer is not None
        return self.balancer.url

    def _start(self, index: int) -> Running:
        return start_server("tests/tasks_app.py", env=self.env, port=self.ports[index],
                            log=self.directory / f"r{index}.log")

    def index_of(self, pid: int) -> int:
        return next(index for index, replica in enumerate(self.replicas) if replica.process.pid == pid)

    def kill(self, index: int) -> float:
        """kill -9; returns when it happened (monotonic)."""
        self.replicas[index].process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        self.replicas[index].process.wait(10)
        return killed

    def restart(self, index: int, *, graceful: bool = True) -> float:
        """SIGTERM (or, for one already dead, nothing), wait for the exit, start again, wait for /ready and for HAProxy
        to take it back. Returns how long it was away."""
        began = time.monotonic()
        process = self.replicas[index].process
        if graceful and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            self.exit_codes.append(process.wait(60))
        process.wait(60)
        self.replicas[index] = self._start(index)
        wait_ready([self.replicas[index].base], 30)
        time.sleep(0.6)  # two passing health checks
        return time.monotonic() - began

    def heal(self) -> None:
        """Start again any replica a test killed, so every test begins with three."""
        for index, replica in enumerate(self.replicas):
            if replica.process.poll() is not None:
                self.restart(index, graceful=False)

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        for replica in self.replicas:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGKILL)
            replica.process.wait(10)
        self.redis.stop()


def rpc(http: httpx.Client, url: str, method: str, params: dict[str, Any], name: str | None = None) -> httpx.Response:
    """One 2026-07-28 request declaring the tasks extension (headers and `_meta` as the brief says)."""
    return modern_call(http, url, method, params, name=name, capabilities=CAPABILITIES)


def body_of(answer: httpx.Response) -> dict[str, Any]:
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [message for message in sse_messages(answer.text) if "id" in message]
        return messages[-1] if messages else {}
    if answer.headers.get("content-type", "").startswith("application/json"):
        parsed: dict[str, Any] = answer.json()
        return parsed
    return {}


def create(http: httpx.Client, url: str, tool: str, arguments: dict[str, Any]) -> str:
    answer = rpc(http, url, "tools/call", {"name": tool, "arguments": arguments})
    result = body_of(answer).get("result") or {}
    assert answer.status_code == 200 and result.get("resultType") == "task", answer.text
    task_id: str = result["taskId"]
    return task_id


def get(http: httpx.Client, url: str, task_id: str) -> dict[str, Any]:
    """The task (`tasks/get`), asserting the request succeeded."""
    answer = rpc(http, url, "tasks/get", {"taskId": task_id}, name=task_id)
    result: dict[str, Any] = body_of(answer).get("result") or {}
    assert answer.status_code == 200 and result.get("taskId") == task_id, f"{answer.status_code} {answer.text[:300]}"
    return result


def cancel(http: httpx.Client, url: str, task_id: str) -> None:
    answer = rpc(http, url, "tasks/cancel", {"taskId": task_id}, name=task_id)
    result = body_of(answer).get("result") or {}
    assert answer.status_code == 200 and {key: value for key, value in result.items() if key != "_meta"} == {
        "resultType": "complete"}, answer.text


def marks(directory: Path, label: str) -> list[tuple[str, int, float]]:
    """The tool's lines for `label`: (event, pid, time.time())."""
    path = directory / label
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(parts[0], int(parts[1]), float(parts[2])) for parts in lines if len(parts) == 3]


def wait_mark(directory: Path, label: str, event: str, seconds: float, count: int = 1) -> list[tuple[str, int, float]]:
    deadline = time.monotonic() + seconds
    while True:
        found = [line for line in marks(directory, label) if line[0] == event]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"no {count}x {event!r} for {label} within {seconds}s: {marks(directory, label)}"
        time.sleep(0.02)


class Watcher:
    """Polls `tasks/get` for one task without pause, on a thread, through HAProxy: every status seen, in order, and
    whether a terminal status was ever followed by another. Failed polls are counted, never hidden."""

    def __init__(self, url: str, task_id: str) -> None:
        self.url = url
        self.task_id = task_id
        self.seen: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                try:
                    answer = rpc(http, self.url, "tasks/get", {"taskId": self.task_id}, name=self.task_id)
                except httpx.HTTPError as error:
                    self.errors.append(f"{type(error).__name__}: {error}")
                    continue
                self.polls += 1
                status = (body_of(answer).get("result") or {}).get("status")
                if answer.status_code != 200 or status is None:
                    self.errors.append(f"{answer.status_code} {answer.text[:200]}")
                    continue
                if not self.seen or self.seen[-1][1] != status:
                    self.seen.append((time.monotonic(), status))
                time.sleep(0.02)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(15)
        return [status for _, status in self.seen]

    def changes_after_terminal(self) -> list[str]:
        statuses = [status for _, status in self.seen]
        for index, status in enumerate(statuses):
            if status in TERMINAL and index + 1 < len(statuses):
                return statuses[index:]
        return []


def log_tail(directory: Path, lines: int = 30) -> str:
    """The replicas' logs' last lines, for an assertion's message."""
    parts = []
    for path in sorted(directory.glob("r*.log")):
        text = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {path.name}\n" + "\n".join(text))
    return "\n".join(parts)

