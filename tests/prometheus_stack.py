"""A real Prometheus (Debian's `prometheus` package) for the metrics-pipeline tests, and the manifests it is fed from.

The manifests are read, never copied: the scrape config follows the ServiceMonitor (path, port name, the labels the
Prometheus Operator gives a target), the alert rules are the PrometheusRule's, the adapter query is
prometheus-adapter's `metricsQuery` filled in the way the adapter fills it, the panel queries are the dashboard's.
A typo in any of them is then a failing query here rather than an empty graph in production.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from conftest import ROOT
from services import free_port

BASE = ROOT / "deploy/k8s/base"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def program(path: str) -> str:
    """Debian's prometheus package, which scripts/setup.sh installs: a missing program fails the test, never skips it."""
    assert Path(path).is_file(), f"{path} is missing: install Debian's prometheus package (scripts/setup.sh does)"
    return path


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((BASE / name).read_text()) if doc]


def manifest(name: str, kind: str) -> dict[str, Any]:
    found = [doc for doc in documents(name) if doc["kind"] == kind]
    assert len(found) == 1, (name, kind, len(found))
    return found[0]


def namespace() -> str:
    """Where kustomize puts everything (the ServiceMonitor selects Services in its own namespace)."""
    return str(yaml.safe_load((BASE / "kustomization.yaml").read_text())["namespace"])


def alert_rules() -> dict[str, Any]:
    """The PrometheusRule's groups as a plain rules file, what the Operator hands Prometheus."""
    return {"groups": manifest("monitoring.yaml", "PrometheusRule")["spec"]["groups"]}


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in alert_rules()["groups"] for rule in group["rules"] if "alert" in rule}


def seconds(duration: str) -> float:
    """A Prometheus duration ("90s", "1h30m") in seconds."""
    parts = _DURATION.findall(duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, duration
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def scaled_rules(divisor: int) -> dict[str, Any]:
    """The alert rules with every duration (`for:` and each range selector) divided by `divisor`, at least 3 s.

    For the live test only: an alert whose window is 5 minutes and whose `for:` is 10 would need a quarter of an hour
    to fire and as long to clear. The expressions, thresholds, labels and metric names stay the manifest's.
    """
    def short(duration: str) -> str:
        return f"{max(3, round(seconds(duration) / divisor))}s"

    rules: dict[str, Any] = json.loads(json.dumps(alert_rules()))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = re.sub(r"\[([0-9a-z]+)\]", lambda match: f"[{short(match.group(1))}]", rule["expr"])
            if "for" in rule:
                rule["for"] = short(rule["for"])
    return rules


def adapter_rule() -> dict[str, Any]:
    config = yaml.safe_load(manifest("prometheus-adapter-rules.yaml", "ConfigMap")["data"]["rules.yaml"])
    assert len(config["rules"]) == 1, config
    return dict(config["rules"][0])


def fill_metrics_query(rule: dict[str, Any], series: str, namespace: str, pods: list[str]) -> str:
    """`metricsQuery` for the pods of `namespace`, filled in as prometheus-adapter's custom-metrics provider does.

    The adapter's template fields: `<<.Series>>` the series name; `<<.LabelMatchers>>` the namespace matcher and then
    the resource's, joined by commas (`label="value"`, or `label=~"a|b"` when it asks for several names at once);
    `<<.GroupBy>>` the resource's label. The labels come from `resources.overrides`.
    """
    labels = {override["resource"]: label for label, override in rule["resources"]["overrides"].items()}
    pod_matcher = f'{labels["pod"]}="{pods[0]}"' if len(pods) == 1 else f'{labels["pod"]}=~"{"|".join(pods)}"'
    matchers = f'{labels["namespace"]}="{namespace}",{pod_matcher}'
    query = str(rule["metricsQuery"])
    for field, value in ((".Series", series), (".LabelMatchers", matchers), (".GroupBy", labels["pod"])):
        query = query.replace(f"<<{field}>>", value)
    assert "<<" not in query, query
    return query


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref: str
    expr: str


def grafana_variables(expr: str, values: dict[str, str]) -> str:
    """Grafana's variables ($name, ${name}, ${name:format}, [[name]]) replaced by `values`; none may be left."""
    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        assert name in values, f"no value for the Grafana variable {name!r} in {expr}"
        return values[name]

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", value, expr)
    assert "$" not in out, out
    return out


def panel_queries(values: dict[str, str]) -> list[PanelQuery]:
    dashboard = json.loads((BASE / "grafana-dashboard.json").read_text())

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:  # rows hold their panels
            yield panel
            yield from panels(panel.get("panels", []))

    return [PanelQuery(panel["title"], target.get("refId", "?"), grafana_variables(target["expr"], values))
            for panel in panels(dashboard["panels"]) for target in panel.get("targets", []) if target.get("expr")]


class QueryError(AssertionError):
    pass


class Prometheus:
    """`prometheus` on a free loopback port with a generated config; its HTTP API."""

    def __init__(self, directory: Path, scrape: list[dict[str, Any]], rules: dict[str, Any] | None = None,
                 interval: str = "1s") -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {"global": {"scrape_interval": interval, "scrape_timeout": interval,
                                             "evaluation_interval": interval},
                                  "scrape_configs": scrape}
        if rules is not None:
            (directory / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
            config["rule_files"] = [str(directory / "rules.yaml")]
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self.log = (directory / "prometheus.log").open("ab")

    def start(self) -> None:
        config = str(self.directory / "prometheus.yml")
        check = subprocess.run([program(PROMTOOL), "check", "config", config], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        self.process = subprocess.Popen(
            [program(PROMETHEUS), f"--config.file={config}",
             f"--storage.tsdb.path={self.directory / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.directory / "prometheus.log").read_text()
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("prometheus did not become ready in 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None
        self.http.close()
        self.log.close()

    def _data(self, path: str, params: dict[str, Any]) -> Any:
        answer = self.http.get(path, params=params)
        body = answer.json()
        if answer.status_code != 200 or body.get("status") != "success":
            raise QueryError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [time, "text"]}]."""
        data = self._data("/api/v1/query", {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})})
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def label_values(self, label: str, match: str) -> list[str]:
        return list(self._data(f"/api/v1/label/{label}/values", {"match[]": match}))

    def series(self, match: str) -> list[dict[str, str]]:
        return list(self._data("/api/v1/series", {"match[]": match}))

    def alert_states(self) -> dict[str, tuple[str, list[dict[str, Any]]]]:
        """Each alerting rule's state (inactive, pending, firing) and its active alerts."""
        groups = self._data("/api/v1/rules", {"type": "alert"})["groups"]
        return {rule["name"]: (rule["state"], rule.get("alerts", [])) for group in groups for rule in group["rules"]}
