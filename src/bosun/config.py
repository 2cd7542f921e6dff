"""Settings: one object, resolved once at start-up, from the environment, `.env` and secret files.

Sources, strongest first: environment variables (`BOSUN_*`, plus `ENVIRONMENT` and
`LOG_LEVEL`), a `.env` file in the working directory, and a secrets directory
holding one file per secret, as Kubernetes mounts them (`BOSUN_SECRETS_DIR`,
default `/run/secrets/bosun`). An invalid value raises `ConfigError`, whose
message names the variable and the form it expects; the CLI exits 2 on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from bosun.config_sources import SourceError, read_dotenv, read_sources
from bosun.protocol.request_state import decode_key
from bosun.security.options import ASYMMETRIC_ALGORITHMS, RateLimit, SecurityConfigError, SecurityOptions, jwt_types, resolve_security
from bosun.transport.http.options import ConnectionLimits, HttpOptions, is_loopback

# `BOSUN_*` variables that are not settings: the secrets directory, what `bosun serve` hands its
# workers (cli.ENV_TARGET, ops.shutdown.WORKER_SIGNALS_ENV) and what scripts/ read; `BOSUN_TEST_*` is
# the tests'. Any other `BOSUN_*` variable is a typo or a stale setting, and is warned about.
OTHER_VARIABLES = frozenset({"BOSUN_SECRETS_DIR", "BOSUN_TARGET", "BOSUN_DRAIN_SIGNALS", "BOSUN_EXAMPLE"})
OTHER_PREFIXES = ("BOSUN_TEST_", "BOSUN_BRIDGE_", "BOSUN_GATEWAY_FILE", "BOSUN_TASKS_")  # the bridge, the gateway and tasks check their own
_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)
CommaList = list[str]  # a comma-separated string in a variable, split by the validators below


class ConfigError(ValueError):
    pass


class Settings(BaseModel):
    """Every setting, validated; `load_settings` fills it from the sources in bosun.config_sources."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, validate_default=True)

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
    max_sessions: int = Field(10_000, ge=1)
    max_sessions_per_client: int = Field(100, ge=1)
    client_request_timeout: float = Field(300.0, gt=0)
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    # Connection limits (docs/operations.md, "Limits"): what one client may hold or send.
    max_header_bytes: int = Field(32 * 1024, ge=1024)
    max_headers: int = Field(100, ge=8)
    header_timeout: float = Field(10.0, gt=0)
    body_timeout: float = Field(30.0, gt=0)
    keepalive_timeout: int = Field(65, ge=1)
    max_connections: int = Field(1000, ge=8)
    max_streams: int = Field(500, ge=1)
    max_batch: int = Field(100, ge=1)
    request_memory: int = Field(192 * 1024 * 1024, ge=1024 * 1024)
    state_keys: list[SecretStr] = []

    metrics_enabled: bool = True
    metrics_port: int | None = Field(None, ge=1, le=65535)
    # /metrics on the MCP port without BOSUN_METRICS_PORT: `auto` serves it only while authentication is off (it
    # needs no credential and names every tool, scope-hidden ones too); `true` serves it anyway, `false` never.
    metrics_on_main_port: Literal["auto", "true", "false"] = "auto"
    readiness_interval: float = Field(5.0, gt=0)
    readiness_timeout: float = Field(2.0, gt=0)
    readiness_retry_interval: float = Field(0.5, gt=0)
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
    # Redis as deployed (docs/deployment.md, "Redis as deployed"): the topology is REDIS_URL's scheme (data/redis_client.py); these
    # keep the ACL user, its password (a secret file of its own) and the TLS CA apart from it, folded in by `_redis`.
    redis_username: str = ""
    redis_password: SecretStr = SecretStr("")
    redis_ca_file: str = ""
    cache_max_entries: int = Field(10_000, ge=1)
    tool_cache: bool = True
    migrate_on_start: bool = False

    # Developer experience (README, "Errors" and "Running locally").
    transport: Literal["http", "stdio"] = "http"
    error_details: bool = False
    strict_arguments: bool = True

    # Security (docs/security.md). Auth is on as soon as any credential source is set.
    auth: Literal["auto", "none"] = "auto"
    resource_url: str = ""
    auth_issuer: str = ""
    auth_servers: CommaList = []
    auth_jwks_url: str = ""
    auth_public_keys: list[str] = []
    auth_algorithms: CommaList = list(ASYMMETRIC_ALGORITHMS)
    auth_audiences: CommaList = []
    auth_leeway_seconds: float = Field(30.0, ge=0, le=300)
    # JWT `typ` headers accepted (docs/security.md, "Token types"); `at+jwt` alone is RFC 9068 strict.
    auth_jwt_types: CommaList = ["at+jwt", "JWT", "untyped"]
    auth_jwks_cache_seconds: float = Field(600.0, gt=0)
    auth_jwks_min_refresh_seconds: float = Field(30.0, ge=0)
    auth_introspection_url: str = ""
    auth_client_id: str = ""
    auth_client_secret: SecretStr = SecretStr("")
    auth_introspection_cache_seconds: float = Field(30.0, ge=0)
    auth_api_keys_file: str = ""
    auth_http_timeout: float = Field(3.0, gt=0)
    auth_scopes: CommaList = []
    auth_scopes_supported: CommaList | None = None
    auth_hide_unauthorized: bool = True
    resource_name: str = ""
    resource_documentation: str = ""
    resource_policy_uri: str = ""
    resource_tos_uri: str = ""
    rate_limit: str = ""
    audit: Literal["auto", "all", "refusals", "off", "true", "false"] = "auto"
    audit_arguments: bool = False
    audit_log: str = "stderr"

    # Client addresses (docs/security.md, "Client addresses behind a proxy"): whose X-Forwarded-For is believed
    # (nobody's by default), and how many unknown opaque tokens one address may have introspected.
    forwarded_allow_ips: CommaList = []
    auth_introspection_failures: str = "30/minute"

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        """IP addresses and CIDR blocks, or `*` alone (trusting every peer): a typo must fail, not trust nobody silently.
        uvicorn ignores a block with host bits set (10.0.0.5/8) and a `*` among other entries, so both are refused."""
        import ipaddress

        items = [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value
        if isinstance(items, list) and "*" in items and len(items) > 1:
            raise ValueError("'*' trusts every peer and must stand alone")
        for item in items if isinstance(items, list) else []:
            try:
                if item != "*":
                    ipaddress.ip_network(item, strict=True)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR block with its host bits zero "
                                 "(such as 10.0.0.0/8)") from None
        return items

    @model_validator(mode="after")
    def _redis(self) -> Settings:
        """REDIS_URL with BOSUN_REDIS_USERNAME/PASSWORD as its credentials and BOSUN_REDIS_CA_FILE as its ssl_ca_certs,
        so every Redis client (all built from the URL) gets them. Never raises: an error here would quote the input."""
        url, password = self.redis_url.get_secret_value(), self.redis_password.get_secret_value()
        if url and (self.redis_username or password or self.redis_ca_file):
            scheme, _, rest = url.partition("://")
            end = min([index for index in (rest.find("/"), rest.find("?")) if index >= 0] or [len(rest)])
            userinfo, _, hosts = rest[:end].rpartition("@")
            user, _, word = userinfo.partition(":")
            user, word = quote(self.redis_username, safe="") or user, quote(password, safe="") or word
            tail = rest[end:]
            if self.redis_ca_file and "ssl_ca_certs=" not in tail:
                tail += ("&" if "?" in tail else "?") + "ssl_ca_certs=" + quote(self.redis_ca_file, safe="/")
            credentials = f"{user}:{word}@" if word else f"{user}@" if user else ""
            self.redis_url = SecretStr(f"{scheme}://{credentials}{hosts}{tail}")
        return self

    @field_validator("auth_introspection_failures")
    @classmethod
    def _failures(cls, value: str) -> str:
        value = value.strip().lower()
        if value != "off":
            RateLimit.parse(value)
        return value

    def forwarded(self) -> dict[str, Any]:
        """uvicorn's proxy-header arguments: X-Forwarded-For/-Proto are believed only from the proxies in
        BOSUN_FORWARDED_ALLOW_IPS (else uvicorn's own FORWARDED_ALLOW_IPS), and from nobody when neither is set,
        since any client could otherwise choose the address its rate limit, session quota and audit record use."""
        trusted = ",".join(self.forwarded_allow_ips) or os.environ.get("FORWARDED_ALLOW_IPS", "").strip()
        return {"proxy_headers": True, "forwarded_allow_ips": trusted} if trusted else {"proxy_headers": False}

    def database_url_or_default(self) -> str:
        """DATABASE_URL, or an SQLite file in the data directory (the embedded default)."""
        url = self.database_url.get_secret_value()
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url or f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'bosun.db'}"

    @field_validator("allowed_origins", "allowed_hosts", "state_keys", "auth_servers", "auth_algorithms", "auth_audiences",
                     mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("auth_scopes", "auth_scopes_supported", mode="before")
    @classmethod
    def _split_scopes(cls, value: Any) -> Any:
        """Scopes are space-separated in OAuth; commas are accepted too."""
        if isinstance(value, str):
            return value.replace(",", " ").split()
        return value

    @field_validator("auth_public_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """PEM blocks (they contain commas and spaces) or file paths, separated by commas between items."""
        if isinstance(value, str):
            blocks = _PEM_BLOCK.findall(value)
            return blocks or [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if unknown:
            raise ValueError(f"only asymmetric algorithms are accepted ({', '.join(ASYMMETRIC_ALGORITHMS)}), not {', '.join(unknown)}")
        return value

    @field_validator("auth_jwt_types", mode="before")
    @classmethod
    def _jwt_types(cls, value: Any) -> Any:
        return jwt_types(value)

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip():
            RateLimit.parse(value)
        return value.strip()

    @field_validator("audit", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

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
            max_sessions=self.max_sessions,
            max_sessions_per_client=self.max_sessions_per_client,
            client_request_timeout=self.client_request_timeout,
            keepalive_seconds=self.sse_keepalive_seconds,
            max_streams=self.max_streams,
            max_batch=self.max_batch,
            request_memory_bytes=self.request_memory,
        )

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(max_header_bytes=self.max_header_bytes, max_headers=self.max_headers,
                                header_timeout=self.header_timeout, body_timeout=self.body_timeout,
                                max_connections=self.max_connections, linger_bytes=max(16 * self.max_body_bytes, 1 << 24))

    def security_options(self) -> SecurityOptions:
        """The security layer's settings, checked together (raises `ConfigError` naming the variables)."""
        wanted = SecurityOptions(
            resource=self.resource_url, issuer=self.auth_issuer or None, authorization_servers=tuple(self.auth_servers),
            jwks_url=self.auth_jwks_url or None, public_keys=tuple(self.auth_public_keys),
            algorithms=tuple(self.auth_algorithms), audiences=tuple(self.auth_audiences),
            leeway_seconds=self.auth_leeway_seconds, jwks_cache_seconds=self.auth_jwks_cache_seconds,
            jwt_types=frozenset(self.auth_jwt_types),
            jwks_min_refresh_seconds=self.auth_jwks_min_refresh_seconds,
            introspection_url=self.auth_introspection_url or None, client_id=self.auth_client_id or None,
            client_secret=self.auth_client_secret.get_secret_value() or None,
            introspection_cache_seconds=self.auth_introspection_cache_seconds,
            introspection_failures=None if self.auth_introspection_failures == "off" else RateLimit.parse(self.auth_introspection_failures),
            api_keys_file=self.auth_api_keys_file or None, http_timeout_seconds=self.auth_http_timeout,
            required_scopes=frozenset(self.auth_scopes),
            scopes_supported=tuple(self.auth_scopes_supported) if self.auth_scopes_supported is not None else None,
            hide_unauthorized=self.auth_hide_unauthorized, resource_name=self.resource_name or None,
            resource_documentation=self.resource_documentation or None,
            resource_policy_uri=self.resource_policy_uri or None, resource_tos_uri=self.resource_tos_uri or None,
            rate_limit=RateLimit.parse(self.rate_limit) if self.rate_limit else None,
            audit=self.audit, audit_arguments=self.audit_arguments, audit_log=self.audit_log,
        )
        try:
            return resolve_security(wanted, self.host, self.port, self.path, loopback=is_loopback(self.host),
                                    explicitly_open=self.auth == "none")
        except SecurityConfigError as exc:
            raise ConfigError(str(exc)) from None

    def sealing_keys(self) -> list[bytes]:
        return [decode_key(key.get_secret_value()) for key in self.state_keys]


def env_names(field: str) -> list[str]:
    """The variables that set `field`, in the order they are looked for."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [f"BOSUN_{field.upper()}"]


def env_name(field: str) -> str:
    """The variable that sets `field` (the first alias when it has several)."""
    return env_names(field)[0]


def load_settings(**overrides: Any) -> Settings:
    """Resolve the settings once; raise `ConfigError` naming each bad variable and what it expects.

    `overrides` (by field name: what the command line sets) win over every source."""
    try:
        raw: dict[str, Any] = read_sources({field: env_names(field) for field in Settings.model_fields})
        return Settings.model_validate({**raw, **overrides})
    except SourceError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = env_name(field) if field in Settings.model_fields else field
            problems.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def variable_names() -> set[str]:
    """Every variable that sets a setting (each alias of those that have several)."""
    return {name for field in Settings.model_fields for name in env_names(field)}


def unknown_variables(names: Iterable[str] | None = None) -> list[str]:
    """A warning for each `BOSUN_*` variable (environment and `.env`) that sets nothing: otherwise a typo is silent."""
    if names is None:
        names = [*os.environ, *read_dotenv()]
    known = sorted(variable_names() | OTHER_VARIABLES)
    suffixes = {name.removeprefix("BOSUN_"): name for name in known if name.startswith("BOSUN_")}
    warnings = []
    for name in sorted(set(names)):
        upper = name.upper()  # settings are read case-insensitively
        if not upper.startswith("BOSUN_") or upper in known or upper.startswith(OTHER_PREFIXES):
            continue
        import difflib  # only for a stray variable: every start-up would pay for it otherwise

        close = difflib.get_close_matches(upper.removeprefix("BOSUN_"), list(suffixes), n=1)  # "BOSUN_" matches all
        hint = f" (did you mean {suffixes[close[0]]}?)" if close else ""
        warnings.append(f"{name} is not a Bosun setting and is ignored{hint}")
    return warnings
