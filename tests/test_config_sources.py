"""Where settings come from (bosun/config_sources.py): precedence, names, secret files, and what start-up imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bosun.config import ConfigError, load_settings


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no `.env`, an empty secrets directory, and no Bosun variables in the environment."""
    for name in list(os.environ):
        if name.upper().startswith("BOSUN_") or name.upper() in ("LOG_LEVEL", "ENVIRONMENT", "DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
    (tmp_path / "secrets").mkdir()
    monkeypatch.setenv("BOSUN_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_environment_beats_dotenv_beats_secret_files(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / ".env").write_text("BOSUN_PORT=9001\nBOSUN_MAX_BATCH=7\nexport BOSUN_PATH='/from-dotenv'\n")
    secrets = workdir / "secrets"
    for name, value in (("bosun_port", "9002"), ("bosun_max_batch", "8"), ("bosun_max_streams", "9"), ("bosun_path", "/s")):
        (secrets / name).write_text(value)
    monkeypatch.setenv("BOSUN_PORT", "9000")
    settings = load_settings()
    assert settings.port == 9000  # environment
    assert settings.max_batch == 7 and settings.path == "/from-dotenv"  # .env, quotes and `export` understood
    assert settings.max_streams == 9  # only a secret file sets it
    assert load_settings(port=9999).port == 9999  # the command line wins over all


def test_names_are_matched_ignoring_case_and_the_first_alias_wins(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("bosun_max_sessions", "12")
    monkeypatch.setenv("BOSUN_LOG_LEVEL", "error")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    (workdir / "secrets" / "Redis_URL").write_text("redis://127.0.0.1:6379/3\n")
    settings = load_settings()
    assert settings.max_sessions == 12
    assert settings.log_level == "DEBUG"  # LOG_LEVEL is looked for before BOSUN_LOG_LEVEL
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6379/3"  # stripped of its newline


def test_kubernetes_secret_links_are_followed_but_links_out_of_the_directory_are_not(workdir: Path) -> None:
    secrets = workdir / "secrets"
    versioned = secrets / "..2026_11_25_10_00_00.000000001"  # how the kubelet lays out a mounted Secret
    versioned.mkdir()
    (versioned / "database_url").write_text("postgresql://app:pw@db/app")
    (secrets / "..data").symlink_to(versioned.name)
    (secrets / "database_url").symlink_to("..data/database_url")
    outside = workdir / "elsewhere"
    outside.write_text("redis://attacker.invalid:6379/0")
    (secrets / "redis_url").symlink_to(outside)
    (secrets / "bosun_path").mkdir()  # a directory where a file was expected
    with pytest.warns(UserWarning) as warned:
        settings = load_settings()
    assert settings.database_url.get_secret_value() == "postgresql://app:pw@db/app"
    assert settings.redis_url.get_secret_value() == ""  # refused, not read
    assert settings.path == "/mcp"
    messages = " ".join(str(warning.message) for warning in warned)
    assert "resolves outside" in messages and "not a file" in messages
    assert "attacker" not in messages  # the warning names the file, never its content


def test_a_missing_secrets_directory_is_no_error(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_SECRETS_DIR", str(workdir / "nowhere"))
    assert load_settings().port == 8000


def test_invalid_values_name_their_variable(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    (workdir / "secrets" / "bosun_port").write_text("eighty")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "LOG_LEVEL='CHATTY'" in str(raised.value) and "BOSUN_PORT='eighty'" in str(raised.value)


def test_an_unreadable_secret_file_is_a_configuration_error(workdir: Path) -> None:
    (workdir / "secrets" / "bosun_state_keys").write_bytes(b"\xff\xfe not text")
    with pytest.raises(ConfigError, match="bosun_state_keys is not UTF-8 text") as raised:
        load_settings()
    assert "not text" not in str(raised.value)


def test_comma_lists_are_split(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_ALLOWED_ORIGINS", "https://a.example, https://b.example,")
    monkeypatch.setenv("BOSUN_AUTH_SCOPES", "notes:read notes:write,admin")
    settings = load_settings()
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.auth_scopes == ["notes:read", "notes:write", "admin"]


def test_a_plain_server_imports_no_optional_feature(tmp_path: Path) -> None:
    """Start-up cost (docs/benchmarks.md, "Footprint"): what only optional features need is imported when they are used."""
    script = textwrap.dedent("""
        import asyncio, sys
        import orjson
        from bosun import Server

        server = Server("plain")

        @server.tool()
        def add(a: int, b: int) -> int:
            return a + b

        app = server.asgi_app()

        async def call():
            body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "add", "arguments": {"a": 1, "b": 2}, "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                    "io.modelcontextprotocol/clientCapabilities": {}}}})
            sent = []
            async def receive():
                return {"type": "http.request", "body": body}
            async def send(message):
                sent.append(message)
            headers = [(b"content-type", b"application/json"), (b"accept", b"application/json, text/event-stream"),
                       (b"mcp-protocol-version", b"2026-07-28"), (b"mcp-method", b"tools/call"), (b"mcp-name", b"add"),
                       (b"host", b"127.0.0.1")]
            scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers, "query_string": b"",
                     "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000)}
            await app(scope, receive, send)
            return sent

        sent = asyncio.run(call())
        optional = ["pydantic_settings", "dotenv", "sqlalchemy", "redis", "jwt", "httpx", "cryptography",
                    "prometheus_client", "ctypes", "alembic", "opentelemetry"]
        print(sent[0]["status"], orjson.loads(sent[1]["body"])["result"]["structuredContent"]["result"])
        print(" ".join(name for name in optional if name in sys.modules) or "none")
    """)
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOSUN_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**env, "PROMETHEUS_MULTIPROC_DIR": ""})
    assert done.stdout.splitlines() == ["200 3", "none"], done.stdout + done.stderr
