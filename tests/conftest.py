"""Fixtures: real Bosun servers on loopback, started as `bosun serve` subprocesses; and the run's services.

The run's PostgreSQL and Redis, its temporary directory and the check that nothing is left behind are services.py's:
the hooks below start the run there and, after the last fixture is torn down, clean up and fail the run on leftovers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import services
from services import free_port  # tests import it from here

ROOT = Path(__file__).resolve().parent.parent
BOSUN = str(Path(sys.executable).with_name("bosun"))
MODERN = "2026-07-28"


def pytest_configure(config: pytest.Config) -> None:
    services.start_run()


def pytest_report_header(config: pytest.Config) -> str:
    return (f"services: BOSUN_TEST_SERVICES={services.MODE}, BOSUN_TEST_BINARIES={services.binaries.SOURCE}, "
            f"TMPDIR={os.environ.get('TMPDIR')}")


@pytest.hookimpl(trylast=True)  # after every fixture's teardown
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    problems, _ = services.finish_run()
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    problems, notes = services.finish_run()
    for line in services.CHOSEN + sorted(services.pg.PROGRAMS_USED):
        terminalreporter.write_line(f"services: {line}")
    for note in notes:
        terminalreporter.write_line(f"clean-up: {note}", yellow=True)
    if problems:
        terminalreporter.section("left behind by this run (the run fails)", sep="=", red=True, bold=True)
        for problem in problems:
            terminalreporter.write_line(problem, red=True)


@pytest.fixture(scope="session")
def shared_postgres() -> services.SharedPostgres:
    """The run's PostgreSQL (the machine's, or a private one): for tests that only read and write, never stop it."""
    return services.postgres()


@pytest.fixture(scope="session")
def shared_redis() -> services.SharedRedis:
    """The run's Redis; on the machine's server every key a test writes must contain `shared_redis.tag`."""
    return services.redis()


class Running:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url
        self.base = url.rsplit("/", 1)[0]


def start_server(target: str, *, host: str = "127.0.0.1", env: dict[str, str] | None = None,
                 args: list[str] | None = None, port: int | None = None, log: Path | None = None) -> Running:
    """`bosun serve TARGET` on a free port; its stderr (the JSON logs) goes to `log` when given."""
    port = port or free_port()
    process = subprocess.Popen(
        [BOSUN, "serve", target, "--host", host, "--port", str(port), "--log-level", "warning", *(args or [])],
        cwd=ROOT,
        env={**os.environ, "BOSUN_DRAIN_SECONDS": "0", **(env or {})},
        stderr=log.open("ab") if log is not None else None,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {target} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Running(process, url)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server {target} did not start")


def stop_server(running: Running) -> None:
    running.process.terminate()
    try:
        running.process.wait(10)
    except subprocess.TimeoutExpired:
        running.process.kill()


@pytest.fixture(scope="session")
def server() -> Iterator[Running]:
    running = start_server("tests/servers/everything.py", env={"BOSUN_STATE_KEYS": "test-key-one"})
    yield running
    stop_server(running)


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def meta(capabilities: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities if capabilities is not None else {},
        "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "0"},
        **extra,
    }


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    if name is not None:
        headers["mcp-name"] = name
    return headers


def modern_call(http: httpx.Client, url: str, method: str, params: dict[str, Any] | None = None, *,
                name: str | None = None, capabilities: dict[str, Any] | None = None, request_id: Any = 1,
                extra_meta: dict[str, Any] | None = None) -> httpx.Response:
    """POST one 2026-07-28 request with correct headers and `_meta`."""
    params = dict(params or {})
    params["_meta"] = meta(capabilities, **(extra_meta or {}))
    if name is None and method in ("tools/call", "prompts/get"):
        name = params.get("name")
    if name is None and method == "resources/read":
        name = params.get("uri")
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return http.post(url, json=body, headers=modern_headers(method, name))


def sse_messages(text: str) -> list[dict[str, Any]]:
    import json

    return [json.loads(line[5:].strip()) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]
