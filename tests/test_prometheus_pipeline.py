"""The metrics pipeline against a real Prometheus: the HPA's request rate, the alerts, every dashboard panel (issue 27).

Two Bosun replicas run on loopback as deployed: authentication on (an API key), `/metrics` on a port of its own
(BOSUN_METRICS_PORT), PostgreSQL (a private server the test may stop). Debian's `prometheus` scrapes them every
second with the labels the Prometheus Operator gives a ServiceMonitor's targets (namespace, pod, job = the Service,
service, endpoint, container), read from the manifests, and evaluates the PrometheusRule's alerts every second.
A paced load (tests/prometheus_load.py: 40 requests/s on one pod, 20 on the other, a mix of every method and tool the
panels read) runs for the whole module, a little over a minute, because the adapter's window is one minute.

In order (pytest keeps the file's order): the panels once the load has been scraped a few times; the alerts while
PostgreSQL is stopped and a tool fails; last, the adapter's rate, when its whole one-minute window lies in the load.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_load import Load, Pod, mix
from prometheus_stack import Prometheus, QueryError, adapter_rule, fill_metrics_query, manifest, namespace, panel_queries, scaled_rules

from bosun.security.apikeys import hash_key
from conftest import Running, start_server, stop_server
from pg import PrivatePostgres
from services import free_port

NAMESPACE = namespace()
API_KEY = "bsk_metrics-pipeline-test-key-00000000000000000000"
PODS = {"bosun-5c8d7f9b6-a7k2p": 40.0, "bosun-5c8d7f9b6-q9x4m": 20.0}  # requests per second: different, so a
# query that mixed the pods up, or summed them, could not pass
DIVISOR = 100  # the live rules' durations: 5m -> 3s, 10m -> 6s, 15m -> 9s (prometheus_stack.scaled_rules)
TOLERANCE = 0.15


@dataclass
class Stack:
    prometheus: Prometheus
    load: Load
    database: PrivatePostgres
    began: float  # wall-clock start of the load


def scrape_config(metrics_ports: dict[str, int]) -> list[dict[str, Any]]:
    """What the Prometheus Operator generates for the ServiceMonitor, with static targets instead of Kubernetes
    discovery: its path and scheme, and the target labels the Operator sets (`job` is the Service's name)."""
    monitor = manifest("monitoring.yaml", "ServiceMonitor")
    service = manifest("service.yaml", "Service")
    deployment = manifest("deployment.yaml", "Deployment")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), "the ServiceMonitor does not select the Service"
    [endpoint] = monitor["spec"]["endpoints"]
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"]
                     if any(p["name"] == port["targetPort"] for p in c["ports"]))
    job = service["metadata"]["name"]
    targets = [{"targets": [f"127.0.0.1:{metrics_port}"],
                "labels": {"namespace": NAMESPACE, "pod": pod, "service": job, "endpoint": endpoint["port"],
                           "container": container["name"]}} for pod, metrics_port in metrics_ports.items()]
    return [{"job_name": f"serviceMonitor/{NAMESPACE}/{monitor['metadata']['name']}/0",
             "metrics_path": endpoint["path"], "scheme": endpoint.get("scheme", "http"),
             "honor_labels": endpoint.get("honorLabels", False), "static_configs": targets,
             "relabel_configs": [{"target_label": "job", "replacement": job}]}]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("prometheus")
    (directory / "keys").write_text(f"pipeline {hash_key(API_KEY)} mcp\n")
    metrics_ports = {pod: free_port() for pod in PODS}
    # Started first: Prometheus hands its first targets to the scrapers about 5 s after it starts (service discovery
    # sends updates at most every 5 s), time the database and the replicas take to start anyway.
    prometheus = Prometheus(directory, scrape_config(metrics_ports), scaled_rules(DIVISOR))
    database = PrivatePostgres(free_port())
    replicas: dict[str, Running] = {}
    load: Load | None = None
    try:
        prometheus.start()
        database.start()

        def start(pod: str) -> None:
            replicas[pod] = start_server("tests/prometheus_server.py", log=directory / f"{pod}.log", env={
                "DATABASE_URL": database.url, "BOSUN_METRICS_PORT": str(metrics_ports[pod]),
                "BOSUN_AUTH_API_KEYS_FILE": str(directory / "keys"), "BOSUN_AUTH_SCOPES": "mcp",
                "BOSUN_READINESS_INTERVAL": "1"})

        starting = [threading.Thread(target=start, args=(pod,)) for pod in PODS]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join(60)
        assert set(replicas) == set(PODS), "a replica did not start"
        load = Load([Pod(pod, replicas[pod].url, rate) for pod, rate in PODS.items()], API_KEY)
        load.warm_up()
        # The load starts once Prometheus holds a sample of every series it feeds (the warm-up's 8 per pod): an
        # increase made before a series' first sample would be lost to rate().
        warmed = f'sum by (pod) (mcp_requests_total{{namespace="{NAMESPACE}"}}) == {len(mix("ok"))}'
        wait_for(lambda: len(prometheus.query(warmed)) == len(PODS), 15, "both pods' warm-up scraped")
        load.start()
        yield Stack(prometheus, load, database, load.started)
    finally:
        if load is not None:
            load.stop()
        prometheus.stop()
        for replica in replicas.values():
            stop_server(replica)
        database.remove()


def wait_for(condition: Any, timeout: float, what: str) -> float:
    """Poll `condition` every 0.1 s; seconds it took."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - began


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def test_every_dashboard_panel_returns_data(stack: Stack) -> None:
    """Each panel's expressions, with Grafana's variables filled in, parse and return a series after the load."""
    sleep_until(stack.began + 4)  # four scrapes of the load
    values = {"namespace": NAMESPACE, "datasource": "prometheus", "__rate_interval": "4s", "__interval": "1s",
              "__range": "1m", "bridge": "child"}  # the backends' rows: tests/prometheus_server.py's bridge
    queries = panel_queries(values)
    assert len({query.panel for query in queries}) >= 8, [query.panel for query in queries]
    failures = []
    for query in queries:
        try:
            result = stack.prometheus.query(query.expr)
        except QueryError as error:
            failures.append(f"panel {query.panel!r} ({query.ref}) does not parse: {error}\n    {query.expr}")
            continue
        if not result:
            failures.append(f"panel {query.panel!r} ({query.ref}) returns no series\n    {query.expr}")
        else:
            print(f"panel {query.panel!r} {query.ref}: {len(result)} series, e.g. {result[0]['metric']} = "
                  f"{result[0]['value'][1]}")
    namespaces = stack.prometheus.label_values("namespace", "mcp_requests_total")  # the $namespace variable's query
    assert namespaces == [NAMESPACE], namespaces
    bridges = stack.prometheus.label_values("bridge", f'bosun_bridge_up{{namespace="{NAMESPACE}"}}')  # $bridge's
    assert bridges == ["child"], bridges
    assert not failures, "\n".join(failures)


def _states(prometheus: Prometheus, seen: dict[str, set[str]]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    states = prometheus.alert_states()
    for name, (state, _) in states.items():
        seen.setdefault(name, set()).add(state)
    return states


def test_alerts_fire_on_real_failures_and_clear(stack: Stack) -> None:
    """PostgreSQL stopped: BosunDependencyDown (the readiness check) and BosunHighErrorRate (the database tool's 503s)
    fire. A tool made to fail (`flaky` raising ToolError, an `isError` result): BosunToolErrors fires for it. Put right,
    all three go back to inactive; the slow-request and flapping alerts never leave inactive.

    The rules Prometheus evaluates here are the PrometheusRule's with every duration divided by 100 (`for: 10m` is 6 s,
    `[5m]` is 3 s): the same expressions, thresholds and labels, on a time scale a test can wait for. The manifests'
    own durations are exercised by promtool's unit tests (test_prometheus_rules.py)."""
    prometheus = stack.prometheus
    seen: dict[str, set[str]] = {}
    sleep_until(stack.began + 5)
    wait_for(lambda: all(state == "inactive" for state, _ in _states(prometheus, seen).values()), 15, "all inactive")
    watched = {"BosunDependencyDown": {"check": "database"}, "BosunHighErrorRate": {}, "BosunToolErrors": {"tool": "flaky"}}
    fired: dict[str, float] = {}
    began = time.monotonic()
    stack.database.stop()
    stack.load.flaky = "error"
    try:
        def all_firing() -> bool:
            states = _states(prometheus, seen)
            for name, labels in watched.items():
                if name not in fired and any(alert["state"] == "firing" and labels.items() <= alert["labels"].items()
                                             and alert["labels"].get("namespace") == NAMESPACE
                                             for alert in states[name][1]):
                    fired[name] = time.monotonic() - began
                    print(f"{name} firing {fired[name]:.1f} s after the failure began, value "
                          f"{next(a['value'] for a in states[name][1] if a['state'] == 'firing')}")
            return len(fired) == len(watched)

        wait_for(all_firing, 40, f"firing ({sorted(fired)} did)")
    finally:
        restarted = time.monotonic()
        stack.database.start()
        stack.load.flaky = "ok"
    cleared: dict[str, float] = {}

    def all_inactive() -> bool:
        states = _states(prometheus, seen)
        for name in watched:
            if name not in cleared and states[name][0] == "inactive":
                cleared[name] = time.monotonic() - restarted
                print(f"{name} inactive {cleared[name]:.1f} s after PostgreSQL was started and the tool fixed")
        return len(cleared) == len(watched)

    wait_for(all_inactive, 40, f"inactive again ({sorted(cleared)} did)")
    for quiet in ("BosunSlowRequests", "BosunReadinessFlapping"):
        assert seen[quiet] == {"inactive"}, (quiet, seen[quiet])
    assert {"pending", "firing"} <= seen["BosunDependencyDown"]  # `for:` held it pending first
    assert stack.load.statuses_seen() >= {200, 503}


def quantity(text: str) -> float:
    """A Kubernetes quantity ("500", "500m", "1.5k", "2Ki") as a number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text)
    assert match, text
    factors = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20}
    return float(match.group(1)) * factors[match.group(2)]


def test_adapter_rate_per_pod_matches_the_load_and_the_hpa_target_unit(stack: Stack) -> None:
    """prometheus-adapter's query for the two pods, filled in as the adapter fills it and evaluated through the HTTP
    API when its one-minute window lies wholly in the load: each pod's value within 15 % of the rate the load generator
    measured for that pod over the same minute. The HPA asks for that metric by the adapter's name, per pod
    (AverageValue), in requests per second: the target is a plain number, not milli-units."""
    rule = adapter_rule()
    prometheus, pods = stack.prometheus, list(PODS)
    discovered = {series["__name__"] for series in prometheus.series(rule["seriesQuery"])}
    assert discovered == {"mcp_requests_total"}, discovered
    exposed = {re.sub(rule["name"]["matches"], rule["name"]["as"], name) for name in discovered
               if re.search(rule["name"]["matches"], name)}
    query = fill_metrics_query(rule, "mcp_requests_total", NAMESPACE, pods)
    assert query == (f'sum(rate(mcp_requests_total{{namespace="{NAMESPACE}",pod=~"{pods[0]}|{pods[1]}"}}[1m])) '
                     'by (pod)'), query
    window = 60.0
    sleep_until(stack.began + window + 1)  # the whole window in the load, a scrape or more after it began
    at = time.time()
    result = {series["metric"]["pod"]: float(series["value"][1]) for series in prometheus.query(query, at=at)}
    stack.load.stop()
    assert not stack.load.failures, stack.load.failures[:5]
    assert set(result) == set(pods), result
    for pod in stack.load.pods:
        measured = pod.answered(at - window, at) / window
        overall = len(pod.done) / (stack.load.stopped - stack.load.started)
        print(f"{pod.name}: adapter {result[pod.name]:.2f} req/s, load generator {measured:.2f} req/s over the same "
              f"minute ({overall:.2f} over the whole load, asked {pod.rate:.0f}); "
              f"{100 * (result[pod.name] / measured - 1):+.1f} %")
        assert abs(result[pod.name] / measured - 1) <= TOLERANCE, (pod.name, result[pod.name], measured)
    hpa = manifest("hpa.yaml", "HorizontalPodAutoscaler")
    [metric] = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert exposed == {metric["metric"]["name"]} == {"mcp_requests_per_second"}, exposed
    assert metric["target"]["type"] == "AverageValue"
    target = quantity(str(metric["target"]["averageValue"]))
    assert target >= 1, f"{metric['target']['averageValue']} is {target} requests per second per pod"
    total = sum(result.values())
    print(f"HPA target {target:g} req/s per pod: {total:.1f} req/s would want {math.ceil(total / target)} pod(s)")
