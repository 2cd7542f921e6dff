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

ISOLATIONS = ("shared", "session", "principal", "request")
# What a program needs to run at all; nothing here is a credential.
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "SHELL", "TERM",
                    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    command: tuple[str, ...]
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
    rate_limit: str | None = None
    """A limit for every call through this bridge, per caller ("600/minute")."""

    def __post_init__(self) -> None:
        problems = []
        if not self.command:
            problems.append("command: give the server's command (after `--` on the command line)")
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
