"""How one bridge runs its children: a frozen description the operator writes, checked when it is made.

Children are started only from this (the operator's configuration), never from anything a request
carries. The child's environment is built here too: nothing of Bosun's own environment passes
unless its name is allowed, so the database URL, the Redis password or a signing key of the server
never reach a third-party program, and a client's token never does (it is not in the environment
at all). Secrets the child needs come from files: `secrets_dir` (each file's name is a variable,
its content the value) or `secret_files` (variable -> path).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bosun.bridge.container_checks import container_problems
from bosun.bridge.naming import PREFIX, PREFIX_RULE

ISOLATIONS = ("shared", "session", "principal", "request")
# What a program needs to run at all; nothing here is a credential.
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "SHELL", "TERM",
                    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")  # an RFC 9110 token
# Headers the remote link sets itself: the protocol's own (and every `Mcp-*`), and those of HTTP's framing.
_RESERVED_HEADERS = frozenset({"last-event-id", "content-type", "content-length", "accept", "host", "transfer-encoding",
                               "connection"})


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    """A remote Streamable HTTP server reached instead of a command. The credentials are the gateway's own:
    a client's token is never sent on (the MCP authorization spec forbids passing it through)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    """Headers sent with every request, as given (nothing secret: secrets go in `header_files`)."""
    header_files: dict[str, str] = field(default_factory=dict)
    """Header -> a file whose content (stripped) is the header's value: an API key, a bearer token."""
    oauth_token_url: str | None = None
    """OAuth 2.1 client credentials: the token is fetched, cached and refreshed by the gateway."""
    oauth_client_id: str | None = None
    oauth_client_secret_file: str | None = None
    oauth_scope: str | None = None
    oauth_resource: str | None = None
    """RFC 8707 resource indicator sent with the token request (the MCP server's URL when not given)."""
    connect_seconds: float = 10.0
    retries: int = 2
    """Retries of a request that is safe to repeat (never a tool call that may have reached the server)."""
    ca_file: str | None = None

    def __post_init__(self) -> None:
        """Checked when the server starts, so a typo or a missing secret file fails the start, not the first call.
        The secret files are only checked here (readable); their values are read when a connection starts."""
        problems: list[str] = []
        if not isinstance(self.url, str) or not _URL.match(self.url):
            problems.append("url: an http:// or https:// URL of the MCP endpoint")
        files: dict[str, str] = {}
        for kind, table in (("headers", self.headers), ("header_files", self.header_files)):
            if not isinstance(table, dict):
                problems.append(f"{kind}: an object of header name -> value")
                continue
            for name, value in table.items():
                if not isinstance(name, str) or not _HEADER.match(name) or name.lower() in _RESERVED_HEADERS \
                        or name.lower().startswith("mcp-"):
                    problems.append(f"{kind}: {str(name)[:64]!r} is not a header the bridge may set")
                elif not isinstance(value, str) or "\n" in value or "\r" in value:
                    problems.append(f"{kind}: the value of {name} must be one line of text")
                elif kind == "header_files":
                    files[f"header_files.{name}"] = value
                elif name.lower() == "authorization":
                    problems.append("headers: a credential belongs in header_files, not in the configuration")
        oauth = (self.oauth_token_url, self.oauth_client_id, self.oauth_client_secret_file)
        if any(value is not None for value in (*oauth, self.oauth_scope, self.oauth_resource)):
            if any(value is None for value in oauth):
                problems.append("oauth: give oauth_token_url, oauth_client_id and oauth_client_secret_file together")
            elif not _URL.match(str(self.oauth_token_url)):
                problems.append("oauth_token_url: an http:// or https:// URL")
            if any(name.split(".", 1)[1].lower() == "authorization" for name in files):
                problems.append("header_files: Authorization comes from OAuth here; give one or the other")
        files.update({key: getattr(self, key) for key in ("oauth_client_secret_file", "ca_file") if getattr(self, key)})
        for key, path in files.items():
            if not os.access(str(path), os.R_OK):
                problems.append(f"{key}: {str(path)[:200]} cannot be read")
        if not isinstance(self.connect_seconds, (int, float)) or self.connect_seconds <= 0:
            problems.append("connect_seconds: must be more than 0")
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 10:
            problems.append("retries: between 0 and 10")
        if problems:
            raise ValueError("remote: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class ContainerOptions:
    """The command run in a container (podman) instead of a plain process."""

    image: str
    network: str = "none"
    """"none" (the default: no network at all), or a podman network the operator allows (e.g. "slirp4netns")."""
    memory: str | None = "512m"
    cpus: float | None = 1.0
    pids: int | None = 256
    mounts: tuple[str, ...] = ()
    """"source:target[:ro|:rw]" bind mounts; nothing else of the host is visible."""
    read_only: bool = True
    user: str | None = None
    tmpfs: tuple[str, ...] = ("/tmp",)
    """"path[:options]" tmpfs mounts (podman's options: "/tmp:size=64m,mode=1777"); they count against `memory`."""
    podman: str = "podman"
    pull: str = "missing"
    """podman's --pull: "missing" (the default), "never" (an image pulled beforehand), "always" or "newer"."""
    init: bool = True
    """A small init as PID 1 (podman's --init): it passes SIGTERM on and reaps; off for an image that has its own."""

    def __post_init__(self) -> None:
        """Checked when the server starts, so a typo fails the start and not the first call; each problem names its
        field. What reaches podman's command line is only what these checks let through."""
        for key in ("mounts", "tmpfs"):  # a list (JSON, Python) is taken as the tuple it stands for
            if isinstance(getattr(self, key), list):
                object.__setattr__(self, key, tuple(getattr(self, key)))
        problems = container_problems(self)
        if problems:
            raise ValueError("container: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    command: tuple[str, ...] = ()
    name: str = "bridge"
    isolation: str = "shared"
    cwd: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    """Variables set for the child, as given."""
    allow_environment: tuple[str, ...] = ()
    """Names of Bosun's own variables the child may see, on top of BASE_ENVIRONMENT."""
    secrets_dir: str | None = None
    secret_files: dict[str, str] = field(default_factory=dict)
    warm: int = 0
    """Children started with the server (shared: 1 keeps the child up; /ready waits for its handshake)."""
    handshake_seconds: float = 30.0
    call_seconds: float = 300.0
    answer_seconds: float = 120.0
    """How long a child may wait for a 2025 client's answer to its elicitation or sampling."""
    park_seconds: float = 300.0
    """How long a call waits for a 2026-07-28 client's retry with the answers it needs."""
    idle_seconds: float = 300.0
    max_children: int = 64
    max_children_per_principal: int = 4
    max_line_bytes: int = 4 * 1024 * 1024
    memory_bytes: int | None = None
    cpu_seconds: int | None = None
    open_files: int | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    crash_loop: int = 5
    tool_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Scopes per bridged tool, resource URI or prompt; "*" applies to every item that has none of its own."""
    tool_rate_limits: dict[str, str] = field(default_factory=dict)
    """Limits per tool (its own name), per caller, on top of `rate_limit`."""
    rate_limit: str | None = None
    """One budget per caller for every tool call through this bridge together ("600/minute")."""
    prefix: str = ""
    """Put before every tool, prompt and resource URI of this server (bridge/naming.py); "" keeps its names."""
    allow_tools: tuple[str, ...] = ()
    """Only these of the server's tools are offered (its own names); empty: all of them."""
    deny_tools: tuple[str, ...] = ()
    """These are never offered nor callable."""
    hidden_tools: tuple[str, ...] = ()
    """Callable, but left out of lists (tools meant for another tool or a view, not for the model)."""
    required: bool = True
    """/ready is 503 while this server is degraded; a gateway's optional backends only show in its detail."""
    remote: RemoteOptions | None = None
    """A remote server instead of a command."""
    container: ContainerOptions | None = None
    """Run `command` in a container."""

    def __post_init__(self) -> None:
        problems = []
        if not self.command and self.remote is None:
            problems.append("command: give the server's command (after `--` on the command line)")
        if self.command and self.remote is not None:
            problems.append("command and remote: give one of them, not both")
        if self.container is not None and (self.memory_bytes or self.cpu_seconds or self.open_files):
            problems.append("memory_bytes, cpu_seconds, open_files: not with a container (prlimit would apply them to "
                            "podman itself); give the container's own memory, cpus and pids")
        if self.container is not None and self.remote is not None:
            problems.append("container: only a command runs in a container, not a remote server")
        if not _NAME.match(self.name):
            problems.append(f"name {self.name!r}: letters, digits, '.', '_' or '-', at most 64")
        if self.isolation not in ISOLATIONS:
            problems.append(f"isolation {self.isolation!r}: one of {', '.join(ISOLATIONS)}")
        for key in ("handshake_seconds", "call_seconds", "answer_seconds", "park_seconds", "backoff_initial", "backoff_max"):
            if getattr(self, key) <= 0:
                problems.append(f"{key}: must be more than 0")
        for key in ("max_children", "max_children_per_principal", "max_line_bytes", "crash_loop"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: must be at least 1")
        if self.prefix and not PREFIX.match(self.prefix):
            problems.append(f"prefix {self.prefix!r}: {PREFIX_RULE}")
        if self.warm < 0 or self.warm > self.max_children:
            problems.append("warm: between 0 and max_children")
        for variable in [*self.environment, *self.allow_environment, *self.secret_files]:
            if not _VARIABLE.match(variable):
                problems.append(f"environment variable name {variable!r} is not valid")
        if problems:
            raise ValueError(f"bridge {self.name}: " + "; ".join(problems))

    def child_environment(self) -> tuple[dict[str, str], list[str]]:
        """The child's environment, and the secret values in it (masked wherever the command is shown)."""
        environment = {name: os.environ[name] for name in (*BASE_ENVIRONMENT, *self.allow_environment) if name in os.environ}
        environment.update(self.environment)
        secrets: list[str] = []
        files: dict[str, Path] = {name: Path(path) for name, path in self.secret_files.items()}
        if self.secrets_dir:
            directory = Path(self.secrets_dir)
            if not directory.is_dir():
                raise ValueError(f"bridge {self.name}: secrets_dir {self.secrets_dir} is not a directory")
            for path in sorted(directory.iterdir()):
                if path.is_file() and _VARIABLE.match(path.name):
                    files.setdefault(path.name, path)
        for name, path in files.items():
            try:
                value = path.read_text().strip()
            except OSError as failure:
                raise ValueError(f"bridge {self.name}: secret {name} cannot be read from {path}: {failure.strerror}") from None
            environment[name] = value
            secrets.append(value)
        return environment, secrets
