"""`bosun serve`, `bosun db`, `bosun --version`: targets, workers, and start-up failures that say what is wrong."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from pathlib import Path

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


def test_version_prints_the_installed_version() -> None:
    run = subprocess.run([BOSUN, "--version"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"bosun {importlib.metadata.version('bosun-mcp')}"


def test_a_module_with_several_servers_is_told_to_name_one(tmp_path: Path) -> None:
    (tmp_path / "two.py").write_text('from bosun import Server\nalpha = Server("a", "1")\nbeta = Server("b", "1")\n')
    run = _fails([str(tmp_path / "two.py")])
    assert run.returncode == 2, run.stderr
    assert "holds several servers (alpha, beta)" in run.stderr
    assert f"{tmp_path / 'two.py'}:alpha or {tmp_path / 'two.py'}:beta" in run.stderr


def test_a_module_with_one_server_under_another_name_is_served(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text('from bosun import Server\nnotes = Server("notes", "1")\n')
    running = start_server(str(tmp_path / "one.py"))
    try:
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{running.base}/health").status_code == 200
    finally:
        stop_server(running)


def test_serve_logs_one_warning_for_unknown_bosun_variables(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    running = start_server("examples/hello.py", env={"BOSUN_PROT": "9000", "BOSUN_MAX_BODY": "1"}, log=log)
    stop_server(running)
    lines = [line for line in log.read_text().splitlines() if "is not a Bosun setting" in line]
    assert len(lines) == 1, lines
    assert "BOSUN_MAX_BODY is not a Bosun setting and is ignored (did you mean BOSUN_MAX_BODY_BYTES?)" in lines[0]
    assert "BOSUN_PROT is not a Bosun setting and is ignored (did you mean BOSUN_PORT?)" in lines[0]


def test_db_upgrade_and_downgrade_print_the_revision_they_reach(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "", "BOSUN_DATA_DIR": str(tmp_path)}

    def db(*args: str) -> str:
        run = subprocess.run([BOSUN, "db", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    notes = "examples/notes/server.py"
    assert db("current", notes) == "base (no revision applied)"
    assert db("upgrade", notes) == "database upgraded to head: now at 0001 (head)"
    assert db("downgrade", notes) == "database downgraded to -1: now at base (no revision applied)"
    assert db("upgrade", notes, "0001") == "database upgraded to 0001: now at 0001 (head)"
    assert db("downgrade", notes, "base") == "database downgraded to base: now at base (no revision applied)"
    assert db("current", notes) == "base (no revision applied)"
