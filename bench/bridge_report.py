"""The bridge targets' section of the report: calls/s and p99 as ratios, and issue 23's goals, met or missed.

Reads what run.py measured for the `echo` workload (bench/bridges.py); measures nothing. Ratios: each
bridge against the child driven over its pipe (the ceiling), and Bosun's shared bridge against each peer.
The goals: through a shared child, at least 70 % of the pipe and at least 3x the fastest peer; p99 at 16
connections under 10 ms. Where one is missed, the HTTP ceiling of the same run (`bare`, its `def`
workload), when measured, shows how much of the gap is HTTP itself rather than the bridge.
"""

from __future__ import annotations

from typing import Any

Result = dict[str, Any]
_WORKLOAD = "echo"
_OURS = ("bridge-bosun", "bridge-bosun-session")
_PIPE = "bridge-pipe"


def _load(result: Result | None, key: str, workload: str = _WORKLOAD) -> dict[str, Any] | None:
    if result is None:
        return None
    found = result["load"].get(workload, {}).get(key)
    return found if isinstance(found, dict) else None


def _ratio(ours: float | None, theirs: float | None, percent: bool = False) -> str:
    if ours is None or not theirs:
        return "-"
    return f"{ours / theirs:.0%}" if percent else f"{ours / theirs:.2f}x"


def _rps(result: Result | None, key: str, workload: str = _WORKLOAD) -> float | None:
    load = _load(result, key, workload)
    return float(load["rps"]) if load else None


def print_bridge_report(results: list[Result], connections: list[int]) -> None:
    bridges = [result for result in results if result["name"].startswith("bridge-") and _WORKLOAD in result["load"]]
    if not bridges:
        return
    by_name = {result["name"]: result for result in results}
    pipe = by_name.get(_PIPE)
    bosun = by_name.get("bridge-bosun")
    peers = [result for result in bridges if result["name"] not in (*_OURS, _PIPE)]
    for count in connections:
        key = str(count)
        print(f"\n## bridges: {count} connection(s), server-everything's echo\n")
        print("| bridge | calls/s | p50 ms | p99 ms | errors | vs pipe | bridge-bosun / it |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for result in bridges:
            load = _load(result, key)
            if load is None:
                continue
            errors = load["non2xx"] + load["socket_errors"]
            print(f"| {result['name']} | {load['rps']:,.0f} | {load['p50_ms']:.2f} | {load['p99_ms']:.2f} | {errors} "
                  f"| {_ratio(load['rps'], _rps(pipe, key), percent=True)} | {_ratio(_rps(bosun, key), load['rps'])} |")
        _goals(key, bosun, pipe, peers, by_name.get("bare"))
    print("\n## bridges: start-up and memory\n")
    print("| bridge | cold start to first correct echo (s) | idle RSS of the bridge process (MB) | notes |")
    print("| --- | ---: | ---: | --- |")
    for result in bridges:
        cold = "-" if result["cold_start_s"] is None else f"{result['cold_start_s']:.3f}"
        print(f"| {result['name']} | {cold} | {result['idle_rss_mb']:.1f} | {result['note']} |")


def _goals(key: str, bosun: Result | None, pipe: Result | None, peers: list[Result], bare: Result | None) -> None:
    ours = _rps(bosun, key)
    if ours is None:
        return
    lines = []
    ceiling = _rps(pipe, key)
    if ceiling:
        share = ours / ceiling
        lines.append(f"- bridge-bosun / pipe: {share:.0%} (goal at least 70 %: {'met' if share >= 0.7 else 'missed'})")
    measured = [(result["name"], _rps(result, key)) for result in peers if _rps(result, key)]
    if measured:
        name, fastest = max(measured, key=lambda pair: pair[1] or 0.0)
        assert fastest is not None
        lines.append(f"- bridge-bosun / fastest peer ({name}): {ours / fastest:.2f}x "
                     f"(goal at least 3x: {'met' if ours / fastest >= 3 else 'missed'})")
    load = _load(bosun, key)
    if key == "16" and load is not None:
        lines.append(f"- bridge-bosun p99 at 16 connections: {load['p99_ms']:.2f} ms "
                     f"(goal under 10 ms: {'met' if load['p99_ms'] < 10 else 'missed'})")
    http = _rps(bare, key, "def")
    if http:
        lines.append(f"- the HTTP ceiling of this run (bare, def): {http:,.0f} req/s; bridge-bosun / bare {ours / http:.0%}, "
                     f"pipe / bare {_ratio(ceiling, http, percent=True)}")
    if lines:
        print()
        print("\n".join(lines))
