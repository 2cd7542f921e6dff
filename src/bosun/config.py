"""Settings: one object, resolved once at start-up, from the environment, `.env` and secret files.

Sources, strongest first: environment variables (`BOSUN_*`, plus `ENVIRONMENT` and
`LOG_LEVEL`), a `.env` file in the working directory, and a secrets directory
holding one file per secret, as Kubernetes mounts them (`BOSUN_SECRETS_DIR`,
default `/run/secrets/bosun`). An invalid value raises `ConfigError`, whose
message names the variable and the form it expects; the CLI exits 2 on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bosun.protocol.request_state import decode_key
from bosun.transport.options import HttpOptions

DEFAULT_SECRETS_DIR = "/run/secrets/bosun"
CommaList = Annotated[list[str], NoDecode]


class ConfigError(ValueError):
    pass


def _secrets_dir() -> str | None:
    path = os.environ.get("BOSUN_SECRETS_DIR", DEFAULT_SECRETS_DIR)
    return path if os.path.isdir(path) else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOSUN_", env_file=".env", extra="ignore", populate_by_name=True)

    environment: str = Field("development", validation_alias=AliasChoices("ENVIRONMENT", "BOSUN_ENVIRONMENT"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias=AliasChoices("LOG_LEVEL", "BOSUN_LOG_LEVEL"))
    log_format: Literal["auto", "json", "text"] = "auto"
    access_log: bool = False

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    path: str = "/mcp"
    allowed_origins: CommaList = []
    allowed_hosts: CommaList = []
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    session_idle_seconds: float = Field(1800.0, gt=0)
    client_request_timeout: float = Field(300.0, gt=0)
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    state_keys: Annotated[list[SecretStr], NoDecode] = []

    metrics_enabled: bool = True
    metrics_port: int | None = Field(None, ge=1, le=65535)
    readiness_interval: float = Field(5.0, gt=0)
    readiness_timeout: float = Field(2.0, gt=0)
    max_loop_lag_seconds: float = Field(5.0, gt=0)
    drain_seconds: float = Field(5.0, ge=0)
    graceful_timeout: float = Field(20.0, gt=0)
    otel_enabled: bool = False

    database_url: SecretStr = Field(SecretStr(""), validation_alias=AliasChoices("DATABASE_URL", "BOSUN_DATABASE_URL"))
    data_dir: str = "./data"
    db_pool_size: int = Field(5, ge=1, le=200)
    db_max_overflow: int = Field(5, ge=0, le=200)
    db_pool_timeout: float = Field(5.0, gt=0)
    db_pool_recycle: float = Field(1800.0, gt=0)
    db_pre_ping: bool = True
    db_external_pool: bool = False
    db_statement_timeout_ms: int = Field(30_000, ge=0)
    redis_url: SecretStr = Field(SecretStr(""), validation_alias=AliasChoices("REDIS_URL", "BOSUN_REDIS_URL"))
    cache_max_entries: int = Field(10_000, ge=1)
    tool_cache: bool = True
    migrate_on_start: bool = False

    def database_url_or_default(self) -> str:
        """DATABASE_URL, or an SQLite file in the data directory (the embedded default)."""
        url = self.database_url.get_secret_value()
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url or f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'bosun.db'}"

    @field_validator("allowed_origins", "allowed_hosts", "state_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value.rstrip("/") or "/"

    def http_options(self) -> HttpOptions:
        return HttpOptions(
            path=self.path,
            bind_host=self.host,
            allowed_origins=tuple(self.allowed_origins),
            allowed_hosts=tuple(self.allowed_hosts),
            max_body_bytes=self.max_body_bytes,
            session_idle_seconds=self.session_idle_seconds,
            client_request_timeout=self.client_request_timeout,
            keepalive_seconds=self.sse_keepalive_seconds,
        )

    def sealing_keys(self) -> list[bytes]:
        return [decode_key(key.get_secret_value()) for key in self.state_keys]


def env_name(field: str) -> str:
    """The variable that sets `field` (the first alias when it has several)."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"BOSUN_{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Resolve the settings once; raise `ConfigError` naming each bad variable and what it expects."""
    try:
        return Settings(_secrets_dir=_secrets_dir(), **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = env_name(field) if field in Settings.model_fields else field
            problems.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, effective value with secrets redacted, where it came from) for `bosun config`."""
    dotenv = _read_dotenv(Path(".env"))
    secrets = _secrets_dir()
    rows = []
    for field in Settings.model_fields:
        value = getattr(settings, field)
        shown = _redact(value)
        name = env_name(field)
        names = [name, f"BOSUN_{field.upper()}"]
        if any(candidate in os.environ for candidate in names):
            source = "environment"
        elif any(candidate in dotenv for candidate in names):
            source = ".env"
        elif secrets and any((Path(secrets) / candidate).is_file() for candidate in (field, name, name.lower())):
            source = f"secret file in {secrets}"
        else:
            source = "default"
        rows.append((name, shown, source))
    return rows


def _redact(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, list):
        return ",".join(_redact(item) for item in value)
    return "" if value is None else str(value)


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip().removeprefix("export ").strip()] = value.strip()
    return values
