"""Configuration from environment, .env and secret files; `bosun config`, `bosun check`, `bosun healthcheck`."""

from __future__ import annotations

import os
import re
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
    env = {"BOSUN_SECRETS_DIR": str(secrets), "BOSUN_PORT": "9100", "LOG_LEVEL": "debug",
           "DATABASE_URL": "postgresql://app:hunter2@db/app"}
    run = bosun("config", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert "9100" in lines["BOSUN_PORT"] and "(environment)" in lines["BOSUN_PORT"]
    assert "DEBUG" in lines["LOG_LEVEL"] and "(environment)" in lines["LOG_LEVEL"]
    assert "60.0" in lines["BOSUN_SESSION_IDLE_SECONDS"] and "(.env)" in lines["BOSUN_SESSION_IDLE_SECONDS"]
    assert "<set, secret>" in lines["BOSUN_STATE_KEYS"] and "secret file" in lines["BOSUN_STATE_KEYS"]
    assert "<set, secret>" in lines["DATABASE_URL"] and "(environment)" in lines["DATABASE_URL"]
    assert "<unset>" in lines["BOSUN_AUTH_CLIENT_SECRET"] and "<unset>" in lines["REDIS_URL"]
    assert "super-secret-key" not in run.stdout and "hunter2" not in run.stdout
    assert "(default)" in lines["BOSUN_MAX_BODY_BYTES"]
    assert f"{secrets} (exists)" in lines["BOSUN_SECRETS_DIR"] and "(environment)" in lines["BOSUN_SECRETS_DIR"]


def test_config_says_when_the_secrets_directory_is_missing(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BOSUN_SECRETS_DIR='{tmp_path / 'nowhere'}'\n")
    run = bosun("config", env={"BOSUN_SECRETS_DIR": ""}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    line = next(line for line in run.stdout.splitlines() if line.startswith("BOSUN_SECRETS_DIR"))
    assert f"{tmp_path / 'nowhere'} (missing: no secret files read)" in line and "(.env)" in line


def test_config_warns_about_unknown_bosun_variables(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOSUN_MAX_BODY=1\n")
    known = {"BOSUN_TARGET": "x.py", "BOSUN_DRAIN_SIGNALS": "1", "BOSUN_TEST_ANYTHING": "1", "BOSUN_EXAMPLE": "x.py",
             "BOSUN_DATABASE_URL": "", "BOSUN_LOG_LEVEL": "INFO", "DATABASE_URL": ""}
    run = bosun("config", env={"BOSUN_PROT": "9000", "bosun_max_sesions": "5", "BOSUN_ZZZ": "1", **known}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert "BOSUN_PROT is not a Bosun setting and is ignored (did you mean BOSUN_PORT?)" in run.stderr
    assert "bosun_max_sesions is not a Bosun setting and is ignored (did you mean BOSUN_MAX_SESSIONS?)" in run.stderr
    assert "BOSUN_MAX_BODY is not a Bosun setting and is ignored (did you mean BOSUN_MAX_BODY_BYTES?)" in run.stderr
    assert any(line.endswith("BOSUN_ZZZ is not a Bosun setting and is ignored") for line in warnings)
    assert len(warnings) == 4, run.stderr
    assert "9000" not in run.stdout  # and the typo really set nothing


def test_the_reference_documents_every_setting() -> None:
    from bosun.config import OTHER_VARIABLES, Settings, env_name
    from bosun.ops.shutdown import WORKER_SIGNALS_ENV
    from bosun.serving import ENV_TARGET

    text = (ROOT / "docs" / "operations.md").read_text()
    reference = text.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", reference))
    missing = sorted({env_name(field) for field in Settings.model_fields} - documented)
    assert not missing, f"add these settings to the configuration reference in docs/operations.md: {missing}"
    assert {ENV_TARGET, WORKER_SIGNALS_ENV} <= OTHER_VARIABLES  # what serve hands its workers is never warned about
    assert not sorted(OTHER_VARIABLES - documented)


def test_invalid_configuration_exits_2_naming_each_variable() -> None:
    run = bosun("config", env={"BOSUN_WORKERS": "0", "LOG_LEVEL": "chatty"})
    assert run.returncode == 2
    assert "BOSUN_WORKERS='0'" in run.stderr and "LOG_LEVEL='CHATTY'" in run.stderr and "'DEBUG', 'INFO'" in run.stderr


def test_check_passes_with_a_trust_store_and_reachable_dependencies() -> None:
    run = bosun("check", "tests/servers/ops_server.py")
    assert run.returncode == 0, run.stdout
    assert "ok   tls trust store" in run.stdout and "ok   dependency database" in run.stdout


CHECKED = """
import asyncio
from bosun import Server

server = Server("checked", "1")

@server.readiness_check("passing")
async def passing() -> None: ...

@server.readiness_check("critical", critical={critical})
async def critical() -> None:
    raise ConnectionError("refused")

@server.readiness_check("optional", critical=False)
async def optional() -> bool:
    return False

@server.readiness_check("hanging", critical=False, timeout=0.2)
async def hanging() -> None:
    await asyncio.sleep(5)
"""


def _statuses(output: str) -> dict[str, str]:
    return {line.split(":")[0].split(None, 1)[1]: line.split()[0] for line in output.splitlines()}


def test_check_never_says_ok_beside_a_failure(tmp_path: Path) -> None:
    (tmp_path / "checked.py").write_text(CHECKED.format(critical=True))
    run = bosun("check", str(tmp_path / "checked.py"))
    assert run.returncode == 1, run.stdout
    assert _statuses(run.stdout) == {"configuration": "ok", "authentication": "ok", "tls trust store": "ok",
                                     "dependency passing": "ok", "dependency critical": "FAIL", "dependency optional": "WARN",
                                     "dependency hanging": "WARN"}
    assert "FAIL dependency critical: ConnectionError: refused" in run.stdout
    assert "WARN dependency optional: returned False (not critical)" in run.stdout
    assert "WARN dependency hanging: no answer within 0.2s (not critical)" in run.stdout
    for line in run.stdout.splitlines():
        assert not line.startswith("ok") or not re.search(r"Error|False|no answer", line), line


def test_check_passes_with_warnings_for_non_critical_failures_and_unknown_variables(tmp_path: Path) -> None:
    (tmp_path / "checked.py").write_text(CHECKED.format(critical=False))
    run = bosun("check", str(tmp_path / "checked.py"), env={"BOSUN_READINES_INTERVAL": "1"})
    assert run.returncode == 0, run.stdout
    assert "WARN dependency critical: ConnectionError: refused (not critical)" in run.stdout
    assert ("WARN configuration: BOSUN_READINES_INTERVAL is not a Bosun setting and is ignored "
            "(did you mean BOSUN_READINESS_INTERVAL?)") in run.stdout
    assert "FAIL" not in run.stdout


def test_check_fails_a_database_url_that_cannot_work() -> None:
    run = bosun("check", "examples/notes/server.py", env={"DATABASE_URL": "nonsense://db/app"})
    assert run.returncode == 1, run.stdout
    assert "FAIL target: NoSuchModuleError" in run.stdout


def test_check_exits_2_on_security_settings_serve_would_refuse() -> None:
    run = bosun("check", "tests/servers/ops_server.py",
                env={"BOSUN_HOST": "0.0.0.0", "BOSUN_AUTH_ISSUER": "https://issuer.example.com"})
    assert run.returncode == 2, run.stdout
    assert "FAIL configuration: BOSUN_RESOURCE_URL is required" in run.stdout
    assert "skip target: not loaded: the configuration is invalid" in run.stdout
    assert not re.search(r"^ok +(configuration|authentication)", run.stdout, re.MULTILINE)


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


def test_config_lists_the_tasks_settings_from_the_environment_and_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOSUN_TASKS_TOTAL=50\n")
    run = bosun("config", env={"BOSUN_TASKS_TTL_SECONDS": "60"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert "60.0" in lines["BOSUN_TASKS_TTL_SECONDS"] and "(environment)" in lines["BOSUN_TASKS_TTL_SECONDS"]
    assert "50" in lines["BOSUN_TASKS_TOTAL"] and "(.env)" in lines["BOSUN_TASKS_TOTAL"]
    assert "100" in lines["BOSUN_TASKS_PER_PRINCIPAL"] and "(default)" in lines["BOSUN_TASKS_PER_PRINCIPAL"]
    refused = bosun("config", env={"BOSUN_TASKS_CONCURRENCY": "0"}, cwd=tmp_path)
    assert refused.returncode == 2 and "BOSUN_TASKS_CONCURRENCY must be at least 1, got 0" in refused.stderr
