"""The image, built and run for real with podman: hardened, healthy, serving MCP, stopping cleanly."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

from conftest import ROOT

if TYPE_CHECKING:
    from container_image import BuiltImage

pytest_plugins = ("container_image",)  # its `bosun_image`: the run's one build of the image, shared


def test_image_builds_runs_hardened_serves_and_stops_cleanly(bosun_image: BuiltImage) -> None:
    run = subprocess.run(["scripts/container-test.sh"], cwd=ROOT, capture_output=True, text=True, timeout=1200,
                         env={**os.environ, "BOSUN_CI_IMAGE": bosun_image.id})
    summary_line = next((line for line in run.stdout.splitlines() if line.startswith('{"image_mb"')), None)
    assert run.returncode == 0 and summary_line is not None, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(summary_line)
    print(f"container: {summary}")
    assert summary["image_mb"] <= 200  # slim Debian base, no compiler, no pip cache, no curl
    assert summary["healthcheck_exit"] == 0  # the image's HEALTHCHECK (bosun healthcheck, no curl)
    assert summary["protocol"] == "2026-07-28" and "search_notes" in summary["tools"] and summary["search_hits"] >= 1
    assert summary["metrics_ok"]
    assert summary["exit_code"] == 0 and summary["stop_seconds"] < 40  # SIGTERM through tini, drained, exit 0
    assert summary["user"] == "10001:10001"
    assert summary["anonymous_status"] == 401  # listening on 0.0.0.0: authenticated (an API key from a mounted secret)
