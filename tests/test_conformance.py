"""The official MCP conformance suite, every check, at each protocol revision we claim, its pending suite, and its
extension scenarios (skills, SEP-2640; tasks, SEP-2663: every check passing; conformance/floors.txt lists them)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.parametrize("version", ["2026-07-28", "2025-11-25", "2025-06-18", "pending", "extensions"])
def test_official_conformance_suite_passes(version: str) -> None:
    run = subprocess.run(["scripts/conformance.sh"], cwd=ROOT, env={**os.environ, "CONFORMANCE_VERSIONS": version},
                         capture_output=True, text=True, timeout=600)
    found = re.search(r"Total: (\d+) passed, (\d+) failed", run.stdout)
    assert found is not None, run.stdout + run.stderr
    passed, failed = int(found.group(1)), int(found.group(2))
    assert run.returncode == 0 and failed == 0, run.stdout
    assert passed >= {"extensions": 89, "pending": 124}.get(version, 50)  # the suite really ran its scenarios
