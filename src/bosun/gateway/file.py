"""Reading a gateway file: every problem found at once, each with its path, its key and why.

A file with a problem is refused whole, before anything starts: a gateway that came up without the
backend an operator misspelt would be worse than one that did not come up. The checks are those a
desktop client never makes: a backend named twice (JSON keeps the last one silently), a command
that is not installed, two backends with the same prefix, names outside the specification's rules,
a secret file that cannot be read, a rate limit that does not parse. `bosun check gateway.json`
runs exactly this and starts nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bosun.bridge.naming import PREFIX, PREFIX_RULE, valid_tool_name
from bosun.bridge.options import BridgeOptions, ContainerOptions, RemoteOptions
from bosun.gateway.schema import Backend, GatewayFile
from bosun.security.options import RateLimit


class GatewayFileError(ValueError):
    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  {problem}" for problem in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Gateway:
    top: GatewayFile
    """The file's own settings (its `mcpServers` left empty: they are `backends`)."""
    backends: tuple[BridgeOptions, ...]
    disabled: tuple[str, ...]


def load(path: str) -> Gateway:
    """The gateway a file describes; GatewayFileError names every problem in it."""
    try:
        text = Path(path).read_text()
    except OSError as failure:
        raise GatewayFileError(path, [f"cannot be read: {failure.strerror}"]) from None
    try:
        raw = json.loads(text, object_pairs_hook=_Object.of)
    except json.JSONDecodeError as failure:
        raise GatewayFileError(path, [f"line {failure.lineno}, column {failure.colno}: not valid JSON ({failure.msg})"]) from None
    problems = _repeats(raw, "")
    servers = raw.get("mcpServers") if type(raw) is _Object else None
    top = GatewayFile.model_validate({"mcpServers": {}})
    try:  # the top level first, each backend then on its own: one backend's typo hides no other's problems
        top = GatewayFile.model_validate({**raw, "mcpServers": {}} if type(servers) is _Object else raw)
    except ValidationError as failure:
        problems += _pydantic(failure, ())
    valid: dict[str, Backend] = {}
    for name, entry in (servers or {}).items():
        try:
            valid[name] = Backend.model_validate(entry)
        except ValidationError as failure:
            problems += _pydantic(failure, ("mcpServers", name))
    backends, disabled = [], []
    prefixes: dict[str, str] = {}
    for name, backend in valid.items():
        where = f"mcpServers.{name}"
        if backend.disabled:
            disabled.append(name)
            continue
        found = _check(where, name, backend)
        prefix = backend.prefix if backend.prefix is not None else name.lower().replace("_", "-")
        if not PREFIX.match(prefix):
            found.append(f"{where}.prefix: {prefix!r} is not a valid prefix ({PREFIX_RULE})"
                         + ("" if backend.prefix is not None else "; set \"prefix\" for this backend"))
        elif prefix in prefixes:
            found.append(f"{where}.prefix: {prefix!r} is also mcpServers.{prefixes[prefix]}'s: names would collide")
        else:
            prefixes[prefix] = name
        if not found:
            try:
                backends.append(_options(name, prefix, backend))
            except ValueError as failure:
                found.append(f"{where}: {failure}")
        problems += found
    if not valid and not problems:
        problems.append("mcpServers: no backend is configured")
    if problems:
        raise GatewayFileError(path, problems)
    return Gateway(top, tuple(backends), tuple(disabled))


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once (json keeps only the last)."""

    repeated: list[str]

    @classmethod
    def of(cls, pairs: list[tuple[str, Any]]) -> _Object:
        made = cls(pairs)
        seen: set[str] = set()
        made.repeated = [key for key, _ in pairs if key in seen or seen.add(key)]  # type: ignore[func-returns-value]
        return made


def _repeats(value: Any, where: str) -> list[str]:
    found: list[str] = []
    if type(value) is _Object:
        found += [f"{where or '(top level)'}: {key!r} appears more than once (JSON would keep only the last)"
                  for key in dict.fromkeys(value.repeated)]
        for key, item in value.items():
            found += _repeats(item, f"{where}.{key}" if where else key)
    elif type(value) is list:
        for index, item in enumerate(value):
            found += _repeats(item, f"{where}[{index}]")
    return found


def _pydantic(failure: ValidationError, under: tuple[str, ...]) -> list[str]:
    return [f"{_where((*under, *error['loc']))}: {error['msg']}" for error in failure.errors()]


def _where(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def _check(where: str, name: str, backend: Backend) -> list[str]:
    problems: list[str] = []
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        problems.append(f"{where}: the name must be 1-64 letters, digits, '-', '_' or '.'")
    if backend.type == "sse":
        problems.append(f"{where}.type: the HTTP+SSE transport of 2024-11-05 is not supported; "
                        "give the server's Streamable HTTP endpoint")
    if backend.command is None and backend.url is None:
        problems.append(f"{where}: give \"command\" (a stdio server) or \"url\" (a remote Streamable HTTP server)")
    elif backend.command is not None and backend.url is not None:
        problems.append(f"{where}: give \"command\" or \"url\", not both")
    elif backend.command is not None:
        problems += _check_stdio(where, backend)
    else:
        problems += _check_remote(where, backend)
    for key in ("allow_tools", "deny_tools", "hidden_tools"):
        for tool in getattr(backend, key):
            if not valid_tool_name(tool):
                problems.append(f"{where}.{_camel(key)}: {tool[:100]!r} is not a valid tool name")
    both = set(backend.allow_tools) & set(backend.deny_tools)
    if both:
        problems.append(f"{where}: {', '.join(sorted(both))} both allowed and denied")
    for limit_key, limit in [("rateLimit", backend.rate_limit), *((f"toolRateLimits.{tool}", text)
                                                                  for tool, text in backend.tool_rate_limits.items())]:
        if limit is not None:
            try:
                RateLimit.parse(limit)
            except ValueError as failure:
                problems.append(f"{where}.{limit_key}: {failure}")
    for label, file in [*((f"secretFiles.{key}", value) for key, value in backend.secret_files.items()),
                        *((f"headerFiles.{key}", value) for key, value in backend.header_files.items()),
                        ("caFile", backend.ca_file),
                        ("oauth.clientSecretFile", backend.oauth.client_secret_file if backend.oauth else None)]:
        if file is not None and not Path(file).is_file():
            problems.append(f"{where}.{label}: {file} is not a readable file")
    if backend.secrets_dir is not None and not Path(backend.secrets_dir).is_dir():
        problems.append(f"{where}.secretsDir: {backend.secrets_dir} is not a directory")
    return problems


def _check_stdio(where: str, backend: Backend) -> list[str]:
    problems = []
    if backend.type not in (None, "stdio"):
        problems.append(f"{where}.type: {backend.type!r} needs \"url\"; a \"command\" is a stdio server")
    for key in ("headers", "header_files", "oauth", "ca_file"):
        if getattr(backend, key):
            problems.append(f"{where}.{_camel(key)}: only a remote (\"url\") backend takes it")
    command = backend.command or ""
    if not command.strip():
        problems.append(f"{where}.command: is empty")
    elif backend.container is None and shutil.which(command) is None:
        problems.append(f"{where}.command: {command[:200]!r} is not found on PATH (nor as a file)")
    if backend.container is not None and backend.container.image.strip() == "":
        problems.append(f"{where}.container.image: is empty")
    return problems


def _check_remote(where: str, backend: Backend) -> list[str]:
    problems = []
    if backend.type == "stdio":
        problems.append(f"{where}.type: \"stdio\" needs \"command\", not \"url\"")
    url = backend.url or ""
    if not (url.startswith("https://") or url.startswith("http://")) or len(url.split("/", 3)[2]) == 0:
        problems.append(f"{where}.url: {url[:200]!r} is not an http(s) URL")
    for key in ("args", "env", "cwd", "container", "secrets_dir", "secret_files", "allow_environment"):
        if getattr(backend, key):
            problems.append(f"{where}.{_camel(key)}: only a stdio (\"command\") backend takes it")
    if backend.isolation in ("request",):
        problems.append(f"{where}.isolation: \"request\" starts a process per call; a remote backend takes "
                        "shared, session or principal")
    return problems


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _options(name: str, prefix: str, backend: Backend) -> BridgeOptions:
    """The bridge the backend describes; BridgeOptions checks what is left (its ValueError names the key)."""
    limits, timeouts = backend.limits, backend.timeouts
    tool_scopes = {tool: tuple(scopes) for tool, scopes in backend.tool_scopes.items()}
    if backend.scopes:
        tool_scopes.setdefault("*", tuple(backend.scopes))
    remote = container = None
    if backend.url is not None:
        oauth = backend.oauth
        remote = RemoteOptions(url=backend.url, headers=dict(backend.headers), header_files=dict(backend.header_files),
                               oauth_token_url=oauth.token_url if oauth else None,
                               oauth_client_id=oauth.client_id if oauth else None,
                               oauth_client_secret_file=oauth.client_secret_file if oauth else None,
                               oauth_scope=oauth.scope if oauth else None, oauth_resource=oauth.resource if oauth else None,
                               connect_seconds=timeouts.connect_seconds, retries=backend.retries, ca_file=backend.ca_file)
    if backend.container is not None:
        spec = backend.container
        container = ContainerOptions(image=spec.image, network=spec.network, memory=spec.memory, cpus=spec.cpus,
                                     pids=spec.pids, mounts=tuple(spec.mounts), read_only=spec.read_only, user=spec.user,
                                     tmpfs=tuple(spec.tmpfs), pull=spec.pull, init=spec.init)
    command = (backend.command, *backend.args) if backend.command is not None else ()
    warm = backend.warm if backend.warm is not None else (1 if backend.isolation == "shared" else 0)
    return BridgeOptions(
        command=command, name=name, isolation=backend.isolation, cwd=backend.cwd, environment=dict(backend.env),
        allow_environment=tuple(backend.allow_environment), secrets_dir=backend.secrets_dir,
        secret_files=dict(backend.secret_files), warm=warm, handshake_seconds=timeouts.handshake_seconds,
        call_seconds=timeouts.call_seconds, answer_seconds=timeouts.answer_seconds, park_seconds=timeouts.park_seconds,
        idle_seconds=timeouts.idle_seconds, max_children=limits.max_children,
        max_children_per_principal=limits.max_children_per_principal, max_line_bytes=limits.max_line_bytes,
        crash_loop=limits.crash_loop, backoff_initial=limits.backoff_initial, backoff_max=limits.backoff_max,
        memory_bytes=limits.memory_bytes, cpu_seconds=limits.cpu_seconds, open_files=limits.open_files,
        tool_scopes=tool_scopes, tool_rate_limits=dict(backend.tool_rate_limits), rate_limit=backend.rate_limit,
        prefix=prefix, allow_tools=tuple(backend.allow_tools), deny_tools=tuple(backend.deny_tools),
        hidden_tools=tuple(backend.hidden_tools), required=backend.required, remote=remote, container=container)
