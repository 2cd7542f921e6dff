"""Print the benchmark's tables and ratios, per workload: to the bare ceiling, to the SDK's fastest mode, between pairs.

Reads the results run.py collected (`result["load"][workload][connections]`); measures nothing.
"""

from __future__ import annotations

from typing import Any

from targets import WORKLOADS

Result = dict[str, Any]

_PAIRS = [("bosun-jwt", "bosun"), ("bosun-jwt-audit", "bosun"), ("bosun-jwt-session", "bosun-session"),
          ("bosun-redis", "bosun"), ("bosun-ratelimit", "bosun"), ("bosun-session-redis", "bosun-session"),
          ("bosun-prod", "bosun"), ("bosun-prod-session", "bosun-session"), ("bosun-prod-2w", "bosun-prod"),
          ("bosun", "bosun-baseline"), ("bosun", "bosun-plain-uvicorn"),
          ("bosun", "sdk-modern"), ("bosun", "sdk-stateless-json"), ("bosun", "fastmcp"), ("bosun", "sdk-fast"),
          ("bosun-session", "sdk-stateful"), ("bosun-session", "sdk-session-json"), ("bosun-session", "fastmcp")]
_SDK = ("sdk-modern", "sdk-session-json", "sdk-stateful", "sdk-stateless-json")


def _rps(result: Result | None, workload: str, key: str) -> float | None:
    if result is None:
        return None
    load = result["load"].get(workload, {}).get(key)
    return float(load["rps"]) if load else None


def _ratio(ours: float | None, theirs: float | None, percent: bool = False) -> str:
    if ours is None or not theirs:
        return "-"
    return f"{ours / theirs:.0%}" if percent else f"{ours / theirs:.2f}x"


def _fastest_sdk(by_name: dict[str, Result], workload: str, key: str) -> Result | None:
    """The official SDK's fastest mode for this workload at this connection count (None if no SDK mode ran it)."""
    modes = [by_name[name] for name in _SDK if name in by_name and _rps(by_name[name], workload, key) is not None]
    return max(modes, key=lambda result: _rps(result, workload, key) or 0.0) if modes else None


def _table(results: list[Result], by_name: dict[str, Result], workload: str, key: str) -> None:
    bare = _rps(by_name.get("bare"), workload, key)
    fastest = _fastest_sdk(by_name, workload, key)
    sdk_fast = _rps(fastest, workload, key)
    print("| server | req/s | p50 ms | p99 ms | errors | vs bare | vs sdk-fast |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        load = result["load"].get(workload, {}).get(key)
        if load is None:
            continue
        errors = load["non2xx"] + load["socket_errors"]
        print(f"| {result['name']} | {load['rps']:,.0f} | {load['p50_ms']:.2f} | {load['p99_ms']:.2f} | {errors} "
              f"| {_ratio(load['rps'], bare, percent=True)} | {_ratio(load['rps'], sdk_fast)} |")
    if fastest is not None:
        print(f"\nfastest SDK mode (sdk-fast): {fastest['name']}")
    pairs = {**by_name, **({"sdk-fast": fastest} if fastest is not None else {})}
    lines = [f"- {ours} / {peer}: {_ratio(_rps(pairs[ours], workload, key), _rps(pairs[peer], workload, key))}"
             for ours, peer in _PAIRS if ours in pairs and peer in pairs and _rps(pairs[ours], workload, key) is not None
             and _rps(pairs[peer], workload, key) is not None]
    if lines:
        print()
        print("\n".join(lines))


def _summary(results: list[Result], by_name: dict[str, Result], workloads: list[str], key: str) -> None:
    """One line per server: req/s of every workload at this connection count, with its ratio to the bare ceiling."""
    shown = [name for name in workloads if any(_rps(result, name, key) is not None for result in results)]
    print("| server | " + " | ".join(f"{name} req/s (vs bare)" for name in shown) + " |")
    print("| --- |" + " ---: |" * len(shown))
    for result in results:
        cells = []
        for name in shown:
            rps = _rps(result, name, key)
            cells.append("-" if rps is None else f"{rps:,.0f} ({_ratio(rps, _rps(by_name.get('bare'), name, key), percent=True)})")
        print(f"| {result['name']} | " + " | ".join(cells) + " |")
    bosun = by_name.get("bosun")
    if bosun is not None:
        print()
        for name in shown:
            fastest = _fastest_sdk(by_name, name, key)
            if fastest is not None and _rps(bosun, name, key) is not None:
                print(f"- {name}: bosun / sdk-fast ({fastest['name']}) "
                      f"{_ratio(_rps(bosun, name, key), _rps(fastest, name, key))}")


def print_report(results: list[Result], connections: list[int], workloads: list[str]) -> None:
    by_name = {result["name"]: result for result in results}
    order = [name for name in WORKLOADS if name in workloads]  # the plain `def` tool first
    for count in connections:
        print(f"\n## summary, {count} connection(s)\n")
        _summary(results, by_name, order, str(count))
    for workload in order:
        if not any(workload in result["load"] for result in results):
            continue
        for count in connections:
            print(f"\n## {workload}: {WORKLOADS[workload].title}; {count} connection(s)\n")
            _table(results, by_name, workload, str(count))
    print("\n## start-up and memory\n")
    print("| server | cold start to first correct answer (s) | idle RSS (MB) | notes |")
    print("| --- | ---: | ---: | --- |")
    for result in results:
        cold = "-" if result["cold_start_s"] is None else f"{result['cold_start_s']:.3f}"
        print(f"| {result['name']} | {cold} | {result['idle_rss_mb']:.1f} | {result['note']} |")
