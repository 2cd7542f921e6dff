"""Liveness, readiness and start-up probes, against a real server."""

from __future__ import annotations

import time

import httpx
from polling import eventually

from conftest import modern_call, start_server, stop_server

FAST = {"BOSUN_READINESS_INTERVAL": "0.2"}


def test_liveness_ignores_dependencies_and_readiness_names_them() -> None:
    running = start_server("tests/servers/ops_server.py", env=FAST)
    try:
        with httpx.Client(timeout=5) as http:
            eventually(lambda: http.get(running.base + "/ready").status_code == 200)
            modern_call(http, running.url, "tools/call", {"name": "set_check", "arguments": {"name": "database", "ok": False}})
            eventually(lambda: http.get(running.base + "/ready").status_code == 503)
            body = http.get(running.base + "/ready").json()
            assert body["failing"] == ["database"] and "unreachable" in body["checks"]["database"]["detail"]
            assert http.get(running.base + "/health").status_code == 200  # a database outage restarts nothing
            modern_call(http, running.url, "tools/call", {"name": "set_check", "arguments": {"name": "database", "ok": True}})
            eventually(lambda: http.get(running.base + "/ready").status_code == 200)
    finally:
        stop_server(running)


def test_non_critical_failures_and_timeouts_keep_the_pod_ready() -> None:
    running = start_server("tests/servers/ops_server.py", env={**FAST, "TEST_SLOW_CHECK": "5"})
    try:
        with httpx.Client(timeout=5) as http:
            eventually(lambda: http.get(running.base + "/ready").status_code == 200)
            modern_call(http, running.url, "tools/call", {"name": "set_check", "arguments": {"name": "cache", "ok": False}})
            eventually(lambda: not http.get(running.base + "/ready").json()["checks"]["cache"]["ok"])
            response = http.get(running.base + "/ready")
            assert response.status_code == 200
            assert response.json()["checks"]["slow"]["detail"] == "timed out after 0.2s"
            assert response.json()["checks"]["cache"]["critical"] is False
    finally:
        stop_server(running)


def test_probes_are_served_from_cache_not_by_running_checks() -> None:
    running = start_server("tests/servers/ops_server.py", env={"BOSUN_READINESS_INTERVAL": "30"})
    try:
        with httpx.Client(timeout=5) as http:
            eventually(lambda: http.get(running.base + "/ready").status_code == 200)
            started = time.monotonic()
            for _ in range(200):
                assert http.get(running.base + "/ready").status_code == 200
            elapsed = time.monotonic() - started
            runs = modern_call(http, running.url, "tools/call", {"name": "check_runs", "arguments": {}}).json()
            assert runs["result"]["structuredContent"]["result"] == 1  # 200 probes, one run of the check
            assert elapsed < 20
    finally:
        stop_server(running)


def test_startup_and_readiness_wait_for_warm_up() -> None:
    running = start_server("tests/servers/ops_server.py", env={**FAST, "TEST_WARMUP_SECONDS": "1.5"})
    try:
        with httpx.Client(timeout=5) as http:
            assert http.get(running.base + "/startup").status_code == 503
            assert http.get(running.base + "/ready").json()["status"] == "starting"
            assert http.get(running.base + "/health").status_code == 200
            eventually(lambda: http.get(running.base + "/startup").status_code == 200, 10)
            assert http.get(running.base + "/ready").status_code == 200
    finally:
        stop_server(running)


def test_liveness_fails_when_the_event_loop_is_blocked() -> None:
    running = start_server("tests/servers/ops_server.py", env={"BOSUN_MAX_LOOP_LAG_SECONDS": "0.5"})
    try:
        with httpx.Client(timeout=10) as http:
            assert http.get(running.base + "/health").status_code == 200
            assert modern_call(http, running.url, "tools/call", {"name": "block", "arguments": {"seconds": 1.5}}).status_code == 200
            wedged = http.get(running.base + "/health")
            assert wedged.status_code == 503 and wedged.json()["status"] == "wedged"
            eventually(lambda: http.get(running.base + "/health").status_code == 200, 5)
    finally:
        stop_server(running)


