"""`bosun serve`: targets, workers, and start-up failures that say what is wrong."""

from __future__ import annotations

import os
import subprocess

import httpx

from conftest import BOSUN, ROOT, modern_call, start_server, stop_server


def test_serves_a_module_attr_with_two_workers() -> None:
    running = start_server("tests.servers.everything:server", args=["--workers", "2"])
    try:
        with httpx.Client(timeout=10) as http:
            for index in range(20):
                result = modern_call(http, running.url, "tools/call", {"name": "add", "arguments": {"a": index, "b": 1}})
                assert result.json()["result"]["structuredContent"] == {"result": index + 1}
    finally:
        stop_server(running)


def _fails(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOSUN, "serve", *args, "--port", "1"], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=30)


def test_bad_target_exits_2_with_a_message() -> None:
    for target, message in (("no_such_module:app", "cannot import module"), ("examples/missing.py", "no such file"),
                            ("examples/hello.py:nothing", "has no attribute nothing")):
        run = _fails([target])
        assert run.returncode == 2, run.stderr
        assert message in run.stderr


def test_bad_setting_exits_2_naming_the_variable() -> None:
    run = _fails(["examples/hello.py"], {"BOSUN_MAX_BODY_BYTES": "lots"})
    assert run.returncode == 2
    assert "BOSUN_MAX_BODY_BYTES" in run.stderr and "valid integer" in run.stderr
