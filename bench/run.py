"""Benchmark Bosun against the official SDK, FastMCP and a bare ASGI handler, in one run.

Each server runs under uvicorn (one worker, uvloop, httptools, no access log) on loopback and is
loaded with wrk for a fixed time per workload (a `def` tool, an `async def` tool, a tool taking a
pydantic model, a resource read; see targets.WORKLOADS) and per connection count. Also measured:
cold start (spawn to the first correct answer, median of several) and idle RSS after start-up and one call.

    python bench/run.py [--duration 5] [--connections 1,16,64] [--workloads def,async,model,resource]
                        [--only bosun,sdk-modern] [--rounds 1] [--cold-runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bridge_pipe import measure_pipe
from bridge_report import print_bridge_report
from bridges import BridgeTarget, bridge_targets
from report import print_report
from targets import BENCH, REDIS_PLACEHOLDER, WORKLOADS, Target, Workload, all_targets, open_session, prepare, request, verify
from wrk import run_wrk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinning(enabled: bool) -> tuple[str | None, str | None]:
    """(the servers' CPUs, wrk's CPU) for taskset: wrk gets the last core to itself, the servers the others."""
    count = os.cpu_count() or 1
    if not enabled or count < 2:
        return None, None
    return (f"0-{count - 2}" if count > 2 else "0"), str(count - 1)


def spawn(target: Target, port: int, cpus: str | None = None) -> subprocess.Popen[bytes]:
    """Start the server; its logs go to a file (a pipe nobody reads would stall a server that logs per call)."""
    if isinstance(target, BridgeTarget):  # a bridge in front of the stdio child (bench/bridges.py): its own argv
        command = target.command(port)
    elif target.served_by_bosun:  # uvloop, httptools (with Bosun's limits), no access log: its defaults
        module, attr = target.module.split(":")
        command = [str(target.python), "-m", "bosun", "serve", f"{BENCH / 'servers' / module}.py:{attr}",
                   "--host", "127.0.0.1", "--port", str(port), "--log-level", target.log_level,
                   "--workers", str(target.workers)]
    else:
        command = [str(target.python), "-m", "uvicorn", target.module, "--app-dir", str(BENCH / "servers"),
                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
                   "--no-access-log", "--log-level", target.log_level]
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    env = {**os.environ, "BOSUN_DRAIN_SECONDS": "0",
           **{name: value.replace(REDIS_PLACEHOLDER, _redis_url) for name, value in target.env.items()}}
    metrics_dir = None
    if target.fresh_metrics_dir:
        metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
    if target.authenticated:
        from auth import server_env

        env.update(server_env())
    log = tempfile.NamedTemporaryFile(prefix=f"bench-{target.name}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    process.log_path = log.name  # type: ignore[attr-defined]
    process.metrics_dir = metrics_dir  # type: ignore[attr-defined]
    log.close()
    return process


def _log_tail(process: subprocess.Popen[bytes]) -> str:
    path = getattr(process, "log_path", None)
    return Path(path).read_text(errors="replace")[-500:] if path else ""


def wait_for_call(target: Target, port: int, process: subprocess.Popen[bytes], started: float, workload: Workload) -> float:
    """Poll until one full request of `workload` answers correctly; return seconds since `started`."""
    deadline = started + 30
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{target.name} exited: {_log_tail(process)}")
        try:
            headers, body = prepare(target, port, workload)
            verify(target, port, workload, headers, body)
            return time.perf_counter() - started
        except (OSError, ConnectionError):
            time.sleep(0.002)
    raise RuntimeError(f"{target.name} did not answer within 30 s")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    path = getattr(process, "log_path", None)
    if path:
        Path(path).unlink(missing_ok=True)
    metrics_dir = getattr(process, "metrics_dir", None)
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def seed_notes() -> None:
    """A fresh benchmark database with the reference server's schema and 2,000 notes."""
    import subprocess as sp

    from targets import NOTES_DB, ROOT

    admin, name = NOTES_DB.rsplit("/", 1)
    sp.run(["psql", f"{admin}/postgres", "-q", "-c", f"drop database if exists {name} with (force)", "-c", f"create database {name}"],
           check=True, capture_output=True)
    sp.run([str(ROOT / ".venv" / "bin" / "bosun"), "db", "upgrade", "examples/notes/server.py"], cwd=ROOT, check=True,
           env={**os.environ, "DATABASE_URL": NOTES_DB}, capture_output=True)
    words = "rolling update pool cache replica probe drain metric schema index latency queue"
    sp.run(["psql", NOTES_DB, "-q", "-c",
            "insert into notes (title, body, tags) select 'note ' || i, "
            f"(string_to_array('{words}', ' '))[1 + i % 12] || ' ' || (string_to_array('{words}', ' '))[1 + (i * 7) % 12] "
            "|| ' and more text about operating services number ' || i, 'ops,bench' from generate_series(1, 2000) i"],
           check=True, capture_output=True)


def measure(target: Target, workloads: list[str], connections: list[int], duration: float, cold_runs: int,
            pin: bool = False) -> dict[str, Any]:
    """One server: cold starts, then one process loaded with every workload at every connection count."""
    if isinstance(target, BridgeTarget) and target.pipe:  # no HTTP: the child driven over its pipe
        return measure_pipe(target, workloads, connections, duration, cold_runs)
    server_cpus, wrk_cpu = pinning(pin)
    if target.prepare_database:
        seed_notes()
    first = WORKLOADS[workloads[0]]
    colds = []
    for _ in range(cold_runs):
        port = free_port()
        started = time.perf_counter()
        process = spawn(target, port, server_cpus)
        try:
            colds.append(wait_for_call(target, port, process, started, first))
        finally:
            stop(process)
    port = free_port()
    process = spawn(target, port, server_cpus)
    loads: dict[str, dict[str, Any]] = {name: {} for name in workloads}
    try:
        wait_for_call(target, port, process, time.perf_counter(), first)
        time.sleep(0.5)
        rss = rss_mb(process.pid)
        for count in connections:
            # A session flow gets one session per connection, as real clients would have; every workload uses them.
            sessions = [open_session(target, port) for _ in range(count if target.flow == "session" else 1)]
            for position, name in enumerate(workloads):
                workload = WORKLOADS[name]
                requests = [request(target, workload, session) for session in sessions]
                for headers, body in requests:
                    verify(target, port, workload, headers, body)
                header_sets, body = [headers for headers, _ in requests], requests[0][1]
                warm_up = min(2.0 if position == 0 else 1.0, duration / 2)  # discarded; later workloads find a warm server
                run_wrk(port, header_sets, body, count, warm_up, wrk_cpu)
                loads[name][str(count)] = run_wrk(port, header_sets, body, count, duration, wrk_cpu)
    finally:
        stop(process)
    return {"name": target.name, "note": target.note, "cold_start_s": statistics.median(colds) if colds else None, "idle_rss_mb": rss,
            "load": loads}


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One server's result: the first round's cold start and memory, the median round's load per workload and connection count."""
    result = dict(runs[0])
    result["load"] = {name: {count: sorted((run["load"][name][count] for run in runs), key=lambda load: load["rps"])[len(runs) // 2]
                             for count in by_count}
                      for name, by_count in runs[0]["load"].items()}
    result["rounds"] = len(runs)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per workload and connection count")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, of {', '.join(WORKLOADS)} (default all; each server runs those it serves)")
    parser.add_argument("--only", default="", help="comma-separated target names")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="measure every server this many times, interleaved; report medians")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--pin", action="store_true", help="wrk on the last core, the servers on the others (taskset)")
    args = parser.parse_args()
    connections = [int(item) for item in args.connections.split(",")]
    wanted = {name for name in args.only.split(",") if name}
    asked = {name for name in args.workloads.split(",") if name}
    if unknown := asked - set(WORKLOADS):
        parser.error(f"unknown workload(s) {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}")
    targets: list[tuple[Target, list[str]]] = []
    for target in [*all_targets(), *bridge_targets()]:
        if wanted and target.name not in wanted:
            continue
        if not target.python.exists():
            print(f"skip {target.name}: {target.python} missing (run bench/setup.sh)", file=sys.stderr)
            continue
        workloads = [name for name in WORKLOADS if name in asked and name in target.workloads]  # report order, `def` first
        if not workloads:
            print(f"skip {target.name}: serves none of the chosen workloads ({', '.join(target.workloads)} only)", file=sys.stderr)
            continue
        targets.append((target, workloads))
    if not targets:
        print("nothing to measure: no chosen server serves a chosen workload", file=sys.stderr)
        return 1
    with contextlib.ExitStack() as stack:
        if any(REDIS_PLACEHOLDER in value for target, _ in targets for value in target.env.values()):
            global _redis_url
            from private_redis import private_redis

            _redis_url = stack.enter_context(private_redis())
        return _run(args, targets, connections, asked)


_redis_url = ""  # the run's private Redis, when a chosen target needs one


def _run(args: argparse.Namespace, targets: list[tuple[Target, list[str]]], connections: list[int], asked: set[str]) -> int:
    # Rounds interleave the servers, so a slow minute on a shared machine hits all of them alike;
    # each server's throughput is the median over the rounds.
    rounds: list[list[dict[str, Any]]] = []
    for number in range(args.rounds):
        measured = []
        for target, workloads in targets:
            print(f"measuring {target.name}: {', '.join(workloads)} (round {number + 1}/{args.rounds}) ...", file=sys.stderr, flush=True)
            measured.append(measure(target, workloads, connections, args.duration, args.cold_runs if number == 0 else 0, args.pin))
        rounds.append(measured)
    results = [_median_of(list(runs)) for runs in zip(*rounds, strict=True)]
    chosen = [name for name in WORKLOADS if name in asked]
    print_report(results, connections, chosen)
    print_bridge_report(results, connections)
    if args.json:
        described = {name: {"title": WORKLOADS[name].title, "method": WORKLOADS[name].method, "params": WORKLOADS[name].params}
                     for name in chosen}
        args.json.write_text(json.dumps({"connections": connections, "duration_s": args.duration, "rounds": args.rounds,
                                         "workloads": described, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
