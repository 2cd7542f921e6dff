"""The PrometheusRule's alerts under promtool (Debian's `prometheus` package): valid, and each one unit-tested to fire
and to stay quiet (deploy/k8s/tests/alerts.test.yaml), with tests that fail when the alert changes.

The live side, alerts firing on a real scrape when PostgreSQL is stopped and a tool fails, is in
test_prometheus_pipeline.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_stack import PROMTOOL, alert_rules, alerts, program

from conftest import ROOT

UNIT_TESTS = ROOT / "deploy/k8s/tests/alerts.test.yaml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([program(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def write_rules(directory: Path, rules: dict[str, Any]) -> None:
    """The rules as the unit tests name them (bosun-rules.yaml), beside a copy of the unit tests."""
    (directory / "bosun-rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    shutil.copy(UNIT_TESTS, directory / UNIT_TESTS.name)


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    write_rules(tmp_path, alert_rules())
    run = promtool("check", "rules", "bosun-rules.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in run.stdout, run.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    write_rules(tmp_path, alert_rules())
    run = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """promtool passes a case for an alert that does not exist (nothing fires, as expected): names are checked here."""
    cases: dict[str, set[str]] = {}
    for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add("fires" if case.get("exp_alerts") else "quiet")
    assert set(cases) == set(alerts()), f"unit tests for {sorted(cases)}, alerts {sorted(alerts())}"
    assert all(kinds == {"fires", "quiet"} for kinds in cases.values()), cases


@pytest.mark.parametrize("alert", sorted(alerts()))
def test_the_unit_tests_fail_when_the_alert_breaks(alert: str, tmp_path: Path) -> None:
    """The alert made never to fire, then always to fire: promtool's unit tests must fail both times, naming it."""
    for broken in ("vector(0) > 1", "vector(1)"):
        rules = alert_rules()
        for group in rules["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    rule["expr"] = broken
        write_rules(tmp_path, rules)
        run = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
        assert run.returncode != 0 and alert in run.stdout + run.stderr, (broken, run.stdout + run.stderr)
