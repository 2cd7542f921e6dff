"""A bridge described by the environment: `BOSUN_BRIDGE_<FIELD>` for each field of `BridgeOptions`.

This is how `bosun bridge -- COMMAND` reaches every worker process (each imports the bridge's server
on its own), and how a Kubernetes manifest describes a bridged server without any code. A variable
that names no field is refused, naming the fields, rather than ignored: a typo would otherwise
leave a limit unset without a word. Values: numbers as numbers, lists comma-separated, mappings
(`ENVIRONMENT`, `SECRET_FILES`, `TOOL_SCOPES`, `TOOL_RATE_LIMITS`) as JSON objects, the command
as a JSON array or a shell-quoted string, and `REMOTE` (a remote server instead of a command) as a JSON object
of `RemoteOptions` fields: `{"url": "https://mcp.example/mcp", "header_files": {"X-Api-Key": "/secrets/key"}}`.
`CONTAINER` (run the command in a container) is a JSON object of `ContainerOptions` fields, lists as JSON arrays:
`{"image": "registry.example/mcp/fs:1.2", "mounts": ["/srv/data:/data:ro"], "memory": "256m"}`.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import typing
from collections.abc import Mapping
from typing import Any

from bosun.bridge.options import BridgeOptions, ContainerOptions, RemoteOptions

PREFIX = "BOSUN_BRIDGE_"


def _value(name: str, kind: Any, text: str) -> Any:
    kind_text = str(kind)
    try:
        if name == "command":
            parsed = json.loads(text) if text.lstrip().startswith("[") else shlex.split(text)
            if not all(isinstance(part, str) for part in parsed):
                raise ValueError("a JSON array of strings")
            return tuple(parsed)
        if name == "remote":
            return _remote(text)
        if name == "container":
            return _container(text)
        if kind_text.startswith("dict"):
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise ValueError("a JSON object")
            if name == "tool_scopes":
                return {str(key): tuple(value.replace(",", " ").split()) if isinstance(value, str) else tuple(map(str, value))
                        for key, value in loaded.items()}
            return {str(key): str(value) for key, value in loaded.items()}
        if kind_text.startswith("tuple"):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        if "float" in kind_text:
            return float(text)
        if "int" in kind_text:
            return int(text)
        return text
    except (ValueError, TypeError) as failure:
        raise ValueError(f"{PREFIX}{name.upper()}={text[:80]!r}: not valid ({failure})") from None


def _object(text: str, kind: Any, required: str, example: str) -> dict[str, Any]:
    """A JSON object of `kind`'s fields, `required` among them; an unknown field is refused, naming the fields."""
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"a JSON object such as {example}")
    known = {field.name for field in dataclasses.fields(kind)}
    unknown = sorted(set(loaded) - known)
    if unknown:
        raise ValueError(f"unknown field {unknown[0][:40]!r}; the fields are " + ", ".join(sorted(known)))
    if required not in loaded:
        raise ValueError(f"{required} is required")
    return loaded


def _remote(text: str) -> RemoteOptions:
    return RemoteOptions(**_object(text, RemoteOptions, "url", '{"url": "https://mcp.example/mcp"}'))


def _container(text: str) -> ContainerOptions:
    loaded = _object(text, ContainerOptions, "image", '{"image": "registry.example/mcp/server:1.2"}')
    for key in ("mounts", "tmpfs"):
        if key in loaded and not (isinstance(loaded[key], list) and all(isinstance(item, str) for item in loaded[key])):
            raise ValueError(f"{key}: a JSON array of strings")
    return ContainerOptions(**loaded)


def options_from_environment(environ: Mapping[str, str]) -> BridgeOptions:
    hints = typing.get_type_hints(BridgeOptions)
    fields = {field.name for field in dataclasses.fields(BridgeOptions)}
    values: dict[str, Any] = {}
    for variable, text in environ.items():
        upper = variable.upper()
        if not upper.startswith(PREFIX):
            continue
        name = upper.removeprefix(PREFIX).lower()
        if name not in fields:
            raise ValueError(f"{variable} is not a bridge setting; they are: "
                             + ", ".join(PREFIX + field.upper() for field in sorted(fields)))
        values[name] = _value(name, hints[name], text)
    return BridgeOptions(**values)
