"""Prometheus metrics: the series Bosun exports, and `/metrics` in the text format.

Label values are bounded: methods outside the MCP method set count as `other`,
tools that are not registered as `unknown`, error codes outside the known set as
`other`, so a hostile client cannot mint series.

Two implementations of one recorder interface (`bosun.protocol.observe.Observer`):

* one process (the default): `LocalMetrics` keeps plain counters and bucket arrays,
  updated without locks on the event loop, and turns them into metric families only
  when scraped. Recording a request costs a couple of dict lookups and additions.
* several workers: prometheus_client's multiprocess mode (`SharedMetrics`), whose
  values live in files under `PROMETHEUS_MULTIPROC_DIR` (the CLI sets a fresh one
  for `--workers N`) so that one scrape adds up every worker.
"""

from __future__ import annotations

import logging
from typing import Any

from bosun.asgi import reject, respond
from bosun.ops.metrics_core import default_registry, multiprocess
from bosun.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("bosun.ops")
_instance: Any = None


def metrics() -> Any:
    """The process's recorder (created on first use; servers built in one process share it)."""
    global _instance
    if _instance is None:
        if multiprocess():
            from bosun.ops.metrics_shared import SharedMetrics

            _instance = SharedMetrics()
        else:
            from bosun.ops.metrics_local import LocalMetrics

            _instance = LocalMetrics()
    return _instance


async def metrics_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    body, content_type = exposition()
    await respond(send, 200, body, ((b"content-type", content_type.encode()),))


_ELSEWHERE = ("Not Found: metrics are not served on the MCP port while authentication is on; they are for the scraper, on "
              "BOSUN_METRICS_PORT (docs/operations.md, Metrics)")


async def _not_here(scope: Scope, receive: Receive, send: Send) -> None:
    await reject(send, 404, _ELSEWHERE)


def main_port_route(authenticating: bool, setting: str) -> ASGIApp:
    """`/metrics` on the MCP port (when BOSUN_METRICS_PORT is not set): the metrics, or a 404 that says where they went.

    The metrics need no credential and name every registered tool, the ones a caller's scopes hide from
    `tools/list` too. So with authentication on they leave the port the clients reach unless the operator
    says otherwise (`BOSUN_METRICS_ON_MAIN_PORT=true`, for a port only the scraper can reach); an open
    server shows every tool to everyone anyway and keeps them there.
    """
    if setting == "true" or (setting == "auto" and not authenticating):
        return metrics_endpoint
    if setting == "auto":
        log.warning("metrics: with authentication on, /metrics is not served on the MCP port; set BOSUN_METRICS_PORT "
                    "to serve it on a port of its own (or BOSUN_METRICS_ON_MAIN_PORT=true)")
    return _not_here


def exposition() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, aggregated across workers when there are several."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if multiprocess():
        from prometheus_client import multiprocess as mp

        if _instance is not None:
            _instance.flush()  # this worker's own counts are current; the others' up to a second late
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(default_registry()), CONTENT_TYPE_LATEST


def start_ops_server(port: int, host: str = "0.0.0.0") -> None:
    """Serve `/metrics` on its own port from a daemon thread (works from the multi-worker supervisor too)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = default_registry()
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
