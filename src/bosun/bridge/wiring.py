"""A server's bridges joined to what it serves with: readiness, metrics, and the other replicas."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence

from bosun.bridge.bridge import Bridge
from bosun.bridge.metrics import BridgeCollector
from bosun.ops.health import Health
from bosun.ops.metrics_core import add_collector
from bosun.state.replicas import call_relay


def wire(bridges: Sequence[Bridge], on_startup: list[Callable[[], Awaitable[None]]], health: Health, redis_url: str,
         namespace: str, metrics: bool) -> None:
    """Each bridge's state in /ready's detail (a crash loop turns it 503), its metrics, and a relay to the
    replicas that hold its sessions' children and parked calls (Redis, or this process alone)."""
    if metrics and bridges:
        add_collector(BridgeCollector(bridges))
    for bridge in bridges:
        health.add_live_check(f"bridge:{bridge.name}", bridge.ready)
        on_startup.append(functools.partial(bridge.use_relay, call_relay(redis_url, f"{namespace}:bridge:{bridge.name}")))
