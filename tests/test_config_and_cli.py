"""Configuration from environment, .env and secret files; `bosun config`, `bosun check`, `bosun healthcheck`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import BOSUN, ROOT, start_server, stop_server


def bosun(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOSUN, *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=60)


def test_config_shows_sources_and_redacts_secrets(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "bosun_state_keys").write_text("super-secret-key")
    (tmp_path / ".env").write_text("BOSUN_SESSION_IDLE_SECONDS=60\n")
    run = bosun("config", env={"BOSUN_SECRETS_DIR": str(secrets), "BOSUN_PORT": "9100", "LOG_LEVEL": "debug"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert "9100" in lines["BOSUN_PORT"] and "(environment)" in lines["BOSUN_PORT"]
    assert "DEBUG" in lines["LOG_LEVEL"] and "(environment)" in lines["LOG_LEVEL"]
    assert "60.0" in lines["BOSUN_SESSION_IDLE_SECONDS"] and "(.env)" in lines["BOSUN_SESSION_IDLE_SECONDS"]
    assert "**********" in lines["BOSUN_STATE_KEYS"] and "secret file" in lines["BOSUN_STATE_KEYS"]
    assert "super-secret-key" not in run.stdout
    assert "(default)" in lines["BOSUN_MAX_BODY_BYTES"]


def test_invalid_configuration_exits_2_naming_each_variable() -> None:
    run = bosun("config", env={"BOSUN_WORKERS": "0", "LOG_LEVEL": "chatty"})
    assert run.returncode == 2
    assert "BOSUN_WORKERS='0'" in run.stderr and "LOG_LEVEL='CHATTY'" in run.stderr and "'DEBUG', 'INFO'" in run.stderr


def test_check_passes_with_a_trust_store_and_reachable_dependencies() -> None:
    run = bosun("check", "tests/servers/ops_server.py")
    assert run.returncode == 0, run.stdout
    assert "ok   tls trust store" in run.stdout and "ok   dependency database" in run.stdout


def test_check_fails_loudly_without_ca_certificates(tmp_path: Path) -> None:
    empty = tmp_path / "no-certs"
    empty.mkdir()
    run = bosun("check", env={"SSL_CERT_FILE": str(empty / "none.pem"), "SSL_CERT_DIR": str(empty)})
    assert run.returncode == 1
    assert "FAIL tls trust store: no CA certificates" in run.stdout and "install ca-certificates" in run.stdout


def test_healthcheck_exit_codes() -> None:
    running = start_server("tests/servers/ops_server.py")
    try:
        port = running.base.rsplit(":", 1)[1]
        assert bosun("healthcheck", "--port", port).returncode == 0
    finally:
        stop_server(running)
    failed = bosun("healthcheck", "--port", port)
    assert failed.returncode == 1 and "unreachable" in failed.stderr


def test_check_reports_an_unreachable_database() -> None:
    run = bosun("check", "examples/notes/server.py", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
                                                          "BOSUN_DB_POOL_TIMEOUT": "1"})
    assert run.returncode == 1
    assert "FAIL dependency database" in run.stdout
