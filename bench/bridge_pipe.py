"""The ceiling of the bridge targets: the stdio child driven over its own pipe, with no HTTP and no bridge.

One `initialize` (the child is a 2025 server), then `connections` callers each keep one `tools/call` in
flight (a fresh id per call, answers matched by id), for `seconds`. Every answer must be the workload's
right answer or it counts as an error. The numbers come back in wrk.py's shape, so the report reads them
like any other row. The driver is Python (asyncio, orjson): at high concurrency it may bound the ceiling
before the child does; the report says so where that matters.

    .venv/bin/python bench/bridge_pipe.py [--connections 1,16] [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from typing import Any

import orjson
from targets import Workload

_LIMIT = 16 * 1024 * 1024


class Pipe:
    """A child process spoken to in JSON lines; answers are matched to their calls by id."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 0
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, argv: list[str]) -> Pipe:
        process = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                       stderr=subprocess.DEVNULL, limit=_LIMIT)
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = orjson.loads(line)
            waiter = self.pending.pop(message.get("id"), None) if "id" in message and "method" not in message else None
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("the child closed its stdout"))

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = waiter
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}) + b"\n")
        return await waiter

    async def notify(self, method: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps({"jsonrpc": "2.0", "method": method}) + b"\n")
        await self.process.stdin.drain()

    async def initialize(self) -> None:
        await self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                          "clientInfo": {"name": "bench-pipe", "version": "1"}})
        await self.notify("notifications/initialized")

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


async def _load(pipe: Pipe, workload: Workload, connections: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            answer = await pipe.request(workload.method, workload.params)
            latencies.append(time.perf_counter() - started)
            result = answer.get("result")
            if not isinstance(result, dict) or not workload.expect(result):
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    return {"requests": len(latencies), "duration_us": int(elapsed * 1e6), "non2xx": errors, "socket_errors": 0,
            "p50_ms": (statistics.median(ordered) if ordered else 0.0) * 1000, "p99_ms": p99 * 1000,
            "rps": len(latencies) / elapsed}


async def _measure(argv: list[str], workload: Workload, connections: list[int], seconds: float,
                   cold_runs: int) -> dict[str, Any]:
    colds = []
    for _ in range(cold_runs):
        started = time.perf_counter()
        pipe = await Pipe.start(argv)
        try:
            await pipe.initialize()
            answer = await pipe.request(workload.method, workload.params)
            if not workload.expect(answer.get("result") or {}):
                raise RuntimeError(f"bridge-pipe: {workload.name} did not answer {workload.answer}: {answer}")
            colds.append(time.perf_counter() - started)
        finally:
            await pipe.close()
    pipe = await Pipe.start(argv)
    loads: dict[str, Any] = {}
    try:
        await pipe.initialize()
        answer = await pipe.request(workload.method, workload.params)
        if not workload.expect(answer.get("result") or {}):
            raise RuntimeError(f"bridge-pipe: {workload.name} did not answer {workload.answer}: {answer}")
        await asyncio.sleep(0.5)
        rss = _rss_mb(pipe.process.pid)
        for count in connections:
            await _load(pipe, workload, count, min(2.0 if count == connections[0] else 1.0, seconds / 2))  # warm-up
            loads[str(count)] = await _load(pipe, workload, count, seconds)
    finally:
        await pipe.close()
    return {"cold_start_s": statistics.median(colds) if colds else None, "idle_rss_mb": rss, "load": loads}


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_pipe(target: Any, workloads: list[str], connections: list[int], duration: float, cold_runs: int) -> dict[str, Any]:
    """run.py's `measure` for the pipe target: the same result shape, one workload (`echo`)."""
    from targets import WORKLOADS

    name = workloads[0]
    measured = asyncio.run(_measure(list(target.argv), WORKLOADS[name], connections, duration, cold_runs))
    return {"name": target.name, "note": target.note, "cold_start_s": measured["cold_start_s"],
            "idle_rss_mb": measured["idle_rss_mb"], "load": {name: measured["load"]}}


def main() -> int:
    from bridges import child_argv

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    from targets import WORKLOADS

    counts = [int(part) for part in args.connections.split(",")]
    result = asyncio.run(_measure(child_argv(), WORKLOADS["echo"], counts, args.seconds, 1))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
