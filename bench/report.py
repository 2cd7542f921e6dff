"""Print the benchmark's tables and ratios (to the bare ceiling and between Bosun and each peer)."""

from __future__ import annotations

from typing import Any

_PAIRS = [("bosun-jwt", "bosun"), ("bosun-jwt-audit", "bosun"), ("bosun-jwt-session", "bosun-session"),
          ("bosun", "sdk-modern"), ("bosun", "sdk-stateless-json"), ("bosun", "fastmcp"), ("bosun", "sdk-fast"),
          ("bosun-session", "sdk-stateful"), ("bosun-session", "sdk-session-json"), ("bosun-session", "fastmcp")]
_SDK = ("sdk-modern", "sdk-session-json", "sdk-stateful", "sdk-stateless-json")


def print_report(results: list[dict[str, Any]], connections: list[int]) -> None:
    by_name = {result["name"]: result for result in results}
    bare = by_name.get("bare")
    for count in connections:
        key = str(count)
        print(f"\n## tools/call, {count} connection(s)\n")
        print("| server | req/s | p50 ms | p99 ms | errors | vs bare |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for result in results:
            load = result["load"][key]
            ceiling = f"{load['rps'] / bare['load'][key]['rps']:.0%}" if bare else "-"
            errors = load["non2xx"] + load["socket_errors"]
            print(f"| {result['name']} | {load['rps']:,.0f} | {load['p50_ms']:.2f} | {load['p99_ms']:.2f} | {errors} | {ceiling} |")
        sdk = [by_name[name] for name in _SDK if name in by_name]
        if sdk:
            fastest = max(sdk, key=lambda result: result["load"][key]["rps"])
            by_name["sdk-fast"] = {**fastest, "name": "sdk-fast"}
            print(f"\nfastest SDK mode at {count}: {fastest['name']}")
        print()
        for ours, peer in _PAIRS:
            if ours in by_name and peer in by_name:
                ratio = by_name[ours]["load"][key]["rps"] / by_name[peer]["load"][key]["rps"]
                print(f"- {ours} / {peer}: {ratio:.2f}x")
        by_name.pop("sdk-fast", None)
    print("\n## start-up and memory\n")
    print("| server | cold start to first tools/call (s) | idle RSS (MB) | notes |")
    print("| --- | ---: | ---: | --- |")
    for result in results:
        print(f"| {result['name']} | {result['cold_start_s']:.3f} | {result['idle_rss_mb']:.1f} | {result['note']} |")
