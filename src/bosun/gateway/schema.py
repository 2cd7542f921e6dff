"""The gateway file's shape: the `mcpServers` JSON desktop clients use, plus Bosun's own keys per backend.

    {"mcpServers": {
        "fs":      {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/data"]},
        "tickets": {"url": "https://tickets.internal/mcp", "headerFiles": {"Authorization": "/run/secrets/tickets"},
                    "required": true, "scopes": ["tickets"], "rateLimit": "120/minute"}}}

The standard keys (`command`, `args`, `env`, `cwd`, `url`, `headers`, `type`, `disabled`) mean what
they mean to a desktop client, so a file that works there works here. Bosun's keys are camelCase
like the standard ones. Every model refuses keys it does not know: a misspelt `denyTools` must not
quietly offer the tools it was meant to deny.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True)


class Limits(_Strict):
    memory_bytes: int | None = Field(None, ge=1 << 20)
    cpu_seconds: int | None = Field(None, ge=1)
    open_files: int | None = Field(None, ge=16)
    max_children: int = Field(64, ge=1)
    max_children_per_principal: int = Field(4, ge=1)
    max_line_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    crash_loop: int = Field(5, ge=1)
    """Crashes within a minute that open the backend's breaker."""
    backoff_initial: float = Field(0.5, gt=0)
    backoff_max: float = Field(30.0, gt=0)


class Timeouts(_Strict):
    handshake_seconds: float = Field(30.0, gt=0)
    call_seconds: float = Field(300.0, gt=0)
    answer_seconds: float = Field(120.0, gt=0)
    park_seconds: float = Field(300.0, gt=0)
    idle_seconds: float = Field(300.0, ge=0)
    connect_seconds: float = Field(10.0, gt=0)


class OAuth(_Strict):
    """Client credentials the gateway holds for a remote backend (never the client's own token)."""

    token_url: str
    client_id: str
    client_secret_file: str
    scope: str | None = None
    resource: str | None = None


class Container(_Strict):
    image: str
    network: str = "none"
    memory: str | None = "512m"
    cpus: float | None = Field(1.0, gt=0)
    pids: int | None = Field(256, ge=1)
    mounts: list[str] = []
    read_only: bool = True
    user: str | None = None
    tmpfs: list[str] = ["/tmp"]
    pull: Literal["missing", "never", "always", "newer"] = "missing"
    init: bool = True


class Backend(_Strict):
    # What desktop clients already write.
    type: Literal["stdio", "http", "streamable-http", "streamableHttp", "sse"] | None = None
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    disabled: bool = False
    # Bosun's own.
    prefix: str | None = None
    required: bool = False
    isolation: Literal["shared", "session", "principal", "request"] = "shared"
    warm: int | None = Field(None, ge=0)
    scopes: list[str] = []
    tool_scopes: dict[str, list[str]] = {}
    rate_limit: str | None = None
    tool_rate_limits: dict[str, str] = {}
    allow_tools: list[str] = []
    deny_tools: list[str] = []
    hidden_tools: list[str] = []
    allow_environment: list[str] = []
    secrets_dir: str | None = None
    secret_files: dict[str, str] = {}
    header_files: dict[str, str] = {}
    oauth: OAuth | None = None
    ca_file: str | None = None
    retries: int = Field(2, ge=0, le=5)
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    container: Container | None = None


class GatewayFile(_Strict):
    name: str = Field("gateway", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The server's name (serverInfo, metrics, the audit trail)."""
    instructions: str | None = None
    page_size: int = Field(200, ge=1, le=10_000)
    """Items per page of a merged list."""
    mcp_servers: dict[str, Backend] = Field(alias="mcpServers")
    schema_: str | None = Field(None, alias="$schema")
