"""Metric names and labels are a contract (issue 27, item 5): what Bosun exports, checked against
tests/metrics_contract.json, and everything the alerts, the dashboard and the adapter read, checked against it too.

A server as deployed (authentication on, `/metrics` on its own port, PostgreSQL, the in-memory cache) is driven
through every path that records a metric: each tool outcome, cache hits, the database, every list and read, a 2025
session, made-up methods and tools, malformed JSON, each kind of refused credential, a rate limit, a signing-key
fetch that fails. Its scrape, family by family (type and label names), must equal the reference, once with one
process and once with `--workers 2` (prometheus_client's multiprocess mode exports a different set: see the
reference). A renamed metric or label therefore fails here, and so does a reference changed without the alerts or
the dashboard that read it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_stack import adapter_rule, alerts, fill_metrics_query, panel_queries

from bosun.bridge import metrics as bridge_metrics
from bosun.ops import metrics_core
from bosun.security.apikeys import hash_key
from bosun.tasks import metrics as task_metrics
from conftest import ROOT, Running, meta, modern_headers, start_server, stop_server
from pg import fresh_database
from services import free_port

CONTRACT = json.loads((ROOT / "tests/metrics_contract.json").read_text())
KEY, NARROW = "bsk_contract-test-key-000000000000000000000000", "bsk_contract-narrow-key-0000000000000000000000"
TOOLS = {"echo", "clock", "count", "flaky", "confirm", "scarce"}
MADE_UP = f"made-up-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    directory = tmp_path_factory.mktemp("contract")
    (directory / "keys").write_text(f"full {hash_key(KEY)} mcp\nnarrow {hash_key(NARROW)} other\n")
    yield directory, fresh_database("bosun_metrics_contract")


def serve(setup: tuple[Path, str], *args: str) -> tuple[Running, str]:
    directory, database = setup
    nowhere, metrics_port, port = free_port(), free_port(), free_port()  # nothing listens on `nowhere`
    running = start_server("tests/prometheus_server.py", port=port, args=list(args), log=directory / "server.log", env={
        "DATABASE_URL": database, "BOSUN_METRICS_PORT": str(metrics_port), "BOSUN_AUTH_SCOPES": "mcp",
        "BOSUN_AUTH_API_KEYS_FILE": str(directory / "keys"), "BOSUN_RESOURCE_URL": f"http://127.0.0.1:{port}/mcp",
        "BOSUN_AUTH_ISSUER": f"http://127.0.0.1:{nowhere}", "BOSUN_AUTH_JWKS_URL": f"http://127.0.0.1:{nowhere}/jwks"})
    return running, f"http://127.0.0.1:{metrics_port}/metrics"


def exercise(url: str) -> None:
    """Every path that records a metric, each answer checked so the scrape reflects what was meant."""
    def post(method: str, params: dict[str, Any] | None = None, credential: dict[str, str] | None = None,
             capabilities: dict[str, Any] | None = None) -> httpx.Response:
        params = {**(params or {}), "_meta": meta(capabilities)}
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        credential = {"x-api-key": KEY} if credential is None else credential
        headers = {**modern_headers(method, params.get("name") or params.get("uri")), **credential}
        return http.post(url, content=json.dumps(body).encode(), headers=headers)

    def tool(name: str, **arguments: Any) -> httpx.Response:
        return post("tools/call", {"name": name, "arguments": arguments})

    with httpx.Client(timeout=10) as http:
        assert tool("echo", text="x").json()["result"]["content"][0]["text"] == "x"
        assert tool("clock").status_code == tool("clock").status_code == 200  # a miss, then a hit
        assert tool("count", label="x").json()["result"]["structuredContent"]["result"] == 0
        assert tool("flaky", how="error").json()["result"]["isError"] is True
        assert tool("flaky", how="exception").json()["result"]["isError"] is True
        assert tool("confirm", action="x").status_code == 400  # cannot ask: no elicitation capability
        asking = post("tools/call", {"name": "confirm", "arguments": {"action": "x"}}, capabilities={"elicitation": {}})
        assert asking.json()["result"]["resultType"] == "input_required"
        assert [tool("scarce").status_code for _ in range(2)] == [200, 429]
        for method, params in (("tools/list", {}), ("resources/list", {}), ("resources/read", {"uri": "bosun://motd"}),
                               ("prompts/list", {}), ("prompts/get", {"name": "review", "arguments": {"code": "x"}}),
                               ("server/discover", {})):
            assert post(method, params).status_code == 200, method
        assert tool(MADE_UP).json()["error"]["code"] == -32602  # an unknown tool
        assert post(f"{MADE_UP}/method").status_code == 404  # an unknown method
        assert http.post(url, content=b"{", headers={**modern_headers("tools/list"), "x-api-key": KEY}).status_code == 400
        assert post("tools/list", credential={}).status_code == 401  # missing_token
        assert post("tools/list", credential={"x-api-key": "bsk_" + "0" * 43}).status_code == 401  # invalid_token
        assert post("tools/list", credential={"x-api-key": NARROW}).status_code == 403  # insufficient_scope
        jwt_shaped = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        assert post("tools/list", credential={"authorization": f"Bearer {jwt_shaped}"}).status_code == 503  # no keys
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "contract", "version": "1"}}}
        session = http.post(url, json=init, headers={"accept": "application/json, text/event-stream", "x-api-key": KEY})
        assert session.status_code == 200 and session.headers["mcp-session-id"], session.text
        legacy = {"accept": "application/json, text/event-stream", "x-api-key": KEY, "mcp-protocol-version": "2025-11-25",
                  "mcp-session-id": session.headers["mcp-session-id"]}
        assert http.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=legacy).status_code == 200


def exported(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """The scrape as {family: {"type", "labels"}} (`le` left out: a histogram has it by definition), and every label's
    values."""
    families: dict[str, dict[str, Any]] = {}
    values: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        labels = {label for sample in family.samples for label in sample.labels if label != "le"}
        families[family.name] = {"type": family.type, "labels": sorted(labels)}
        for sample in family.samples:
            for label, value in sample.labels.items():
                values.setdefault(label, set()).add(value)
    return families, values


def scrape_until(metrics_url: str, expected: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]], str]:
    """With several workers a scrape sees the others' counts up to a second late: wait for the expected set, 5 s."""
    deadline = time.monotonic() + 5
    while True:
        text = httpx.get(metrics_url, timeout=10).text
        families, values = exported(text)
        if families == expected or time.monotonic() > deadline:
            return families, values, text
        time.sleep(0.2)


@pytest.mark.parametrize("mode", ["single_process", "workers"])
def test_exported_families_and_labels_match_the_reference(setup: tuple[Path, str], mode: str) -> None:
    running, metrics_url = serve(setup, *(["--workers", "2"] if mode == "workers" else []))
    try:
        exercise(running.url)
        expected = CONTRACT[mode]
        families, values, text = scrape_until(metrics_url, expected)
    finally:
        stop_server(running)
    assert families == expected, (
        f"{mode}: the exported metrics changed; update tests/metrics_contract.json, the alerts "
        f"(deploy/k8s/base/monitoring.yaml), the dashboard and docs/operations.md together. Exported now:\n"
        + json.dumps(families, indent=2, sort_keys=True))
    bounded = CONTRACT["bounded"]
    for label, allowed in {**bounded, "tool": sorted(TOOLS | {"unknown"})}.items():
        assert values.get(label, set()) <= set(allowed), (label, sorted(values.get(label, set()) - set(allowed)))
    # `status` is an HTTP status on the request families, a task's transition on bosun_tasks (the task metrics are
    # exported by one process only, as the bridge's are).
    statuses = {family.name: {sample.labels["status"] for sample in family.samples if "status" in sample.labels}
                for family in text_string_to_metric_families(text)}
    transitions = set(task_metrics.TRANSITIONS) if mode == "single_process" else set()
    assert statuses.pop("bosun_tasks", set()) == transitions
    assert all(re.fullmatch(r"[1-5][0-9][0-9]", status) for found in statuses.values() for status in found), statuses
    assert MADE_UP not in text and '{method="other",status="404"}' in text  # made-up names map to fixed values
    assert {"other", "invalid"} <= values["method"]


def test_the_bounded_label_sets_are_the_code_s() -> None:
    """The reference's allowed values are the recorder's own sets plus the fixed fall-back value: change one, change
    both."""
    bounded = CONTRACT["bounded"]
    assert set(bounded["method"]) == metrics_core.KNOWN_METHODS | {"other"}
    assert set(bounded["code"]) == {str(code) for code in metrics_core.KNOWN_CODES} | {"other"}
    assert set(bounded["reason"]) == metrics_core.REFUSAL_REASONS | {"other"}
    assert set(bounded["event"]) == metrics_core.SECURITY_EVENTS | {"other"}
    assert set(bounded["outcome"]) == {"ok", "error", "input_required", "exception"} | set(bridge_metrics.OUTCOMES)


def _sample_family(name: str, families: dict[str, dict[str, Any]]) -> str | None:
    """The family a sample name in a query belongs to: mcp_requests_total -> mcp_requests, *_bucket -> the histogram."""
    for suffix, kinds in (("_total", {"counter"}), ("_bucket", {"histogram"}), ("_sum", {"histogram", "summary"}),
                          ("_count", {"histogram", "summary"}), ("", {"gauge", "counter", "histogram"})):
        if name.endswith(suffix):
            family = name[: len(name) - len(suffix)] if suffix else name
            if family in families and families[family]["type"] in kinds and (suffix or families[family]["type"] == "gauge"):
                return family
    return None


def test_alerts_dashboard_and_adapter_read_only_what_is_exported() -> None:
    """Every metric the PrometheusRule, the dashboard and the adapter name is in the reference, with the labels they
    match and group on (or a label the scrape adds: namespace, pod, job, ...)."""
    families = CONTRACT["single_process"]
    target_labels = set(CONTRACT["target_labels"])
    rule = adapter_rule()
    expressions = [(f"alert {name}", alert["expr"]) for name, alert in alerts().items()]
    expressions += [(f"panel {q.panel!r} {q.ref}", q.expr) for q in panel_queries({"namespace": "bosun", "bridge": "child"})]
    expressions += [("adapter seriesQuery", rule["seriesQuery"]),
                    ("adapter metricsQuery", fill_metrics_query(rule, "mcp_requests_total", "bosun", ["a", "b"]))]
    problems = []
    for where, expr in expressions:
        names = set(re.findall(r"\b((?:mcp|bosun)_[a-z_]+)\b", expr))
        used = {name: _sample_family(name, families) for name in names}
        problems += [f"{where}: {name} is not exported" for name, family in used.items() if family is None]
        known = target_labels | {"le"} | {label for family in used.values() if family for label in families[family]["labels"]}
        for selector in re.findall(r"\{([^}]*)\}", expr):
            for label in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", selector):
                if label not in known:
                    problems.append(f"{where}: matches on {label!r}, which {sorted(names)} do not have")
        for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            for label in (part.strip() for part in clause.split(",") if part.strip()):
                if label not in known:
                    problems.append(f"{where}: groups by {label!r}, which {sorted(names)} do not have")
    assert not problems, "\n".join(problems)
