"""The headers a request to the remote carries, besides the gateway's credentials.

A 2026-07-28 remote routes and checks on headers that mirror the body: `MCP-Protocol-Version` (the
envelope's version), `Mcp-Method`, `Mcp-Name` (the tool, prompt or resource), and `Mcp-Param-*` for tool
arguments whose schema marks them `x-mcp-header`. The remote's tool schemas are learnt from the
`tools/list` answers this link carries; a tool whose `x-mcp-header` marks break the spec's rules is
dropped from the list (the spec requires it of an HTTP client), with a warning. A 2025 remote gets its
session's id and the version `initialize` agreed.
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any

from bosun.ops.logs import bounded
from bosun.protocol.call import META_PROTOCOL_VERSION

log = logging.getLogger("bosun.bridge")
ACCEPT_BOTH = "application/json, text/event-stream"
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SAFE = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
_MAX_SAFE_INTEGER = 2**53 - 1

Mirror = tuple[str, tuple[str, ...]]  # (header name after Mcp-Param-, the path of properties to the value)


def header_value(value: str) -> str:
    """`value` as it may travel in a header: as is when plain visible ASCII, else `=?base64?...?=`."""
    if _SAFE.match(value) and not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    return "=?base64?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def _param_text(value: Any) -> str | None:
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return value
    return None


def modern_headers(message: dict[str, Any], mirrors: dict[str, tuple[Mirror, ...]]) -> dict[str, str]:
    """`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` for a 2026-07-28 request."""
    params = message.get("params")
    params = params if type(params) is dict else {}
    meta = params.get("_meta")
    version = meta.get(META_PROTOCOL_VERSION) if type(meta) is dict else None
    method = str(message["method"])
    headers = {"mcp-method": header_value(method)}
    if type(version) is str:
        headers["mcp-protocol-version"] = version
    field = NAMED.get(method)
    if field is not None and type(params.get(field)) is str:
        headers["mcp-name"] = header_value(params[field])
    if method == "tools/call":
        arguments = params.get("arguments")
        for header, path in mirrors.get(str(params.get("name")), ()):
            value: Any = arguments
            for key in path:
                value = value.get(key) if type(value) is dict else None
            text = _param_text(value)
            if text is not None:
                headers[f"mcp-param-{header}"] = header_value(text)
    return headers


def learn(result: dict[str, Any], mirrors: dict[str, tuple[Mirror, ...]], bridge: str) -> dict[str, Any]:
    """Read a `tools/list` page's `x-mcp-header` marks into `mirrors`; the page without tools whose marks are
    invalid (the spec: an HTTP client must not offer them)."""
    tools = result.get("tools")
    if type(tools) is not list:
        return result
    kept = []
    for tool in tools:
        if type(tool) is not dict or type(tool.get("name")) is not str:
            kept.append(tool)
            continue
        try:
            found = _marks(tool.get("inputSchema"), ())
            names = [header.lower() for header, _ in found]
            if len(set(names)) != len(names):
                raise ValueError("two parameters mirror into the same header")
        except ValueError as problem:
            log.warning("bridge %s: the remote's tool %s is not offered: its x-mcp-header marks are invalid (%s)",
                        bridge, bounded(tool["name"], 100), problem)
            continue
        mirrors[tool["name"]] = tuple(found)
        kept.append(tool)
    return {**result, "tools": kept} if len(kept) != len(tools) else result


def _marks(schema: Any, path: tuple[str, ...]) -> list[Mirror]:
    if type(schema) is not dict:
        return []
    found: list[Mirror] = []
    header = schema.get("x-mcp-header")
    if header is not None:
        if not path:
            raise ValueError("x-mcp-header on the schema's root")
        if type(header) is not str or not _TOKEN.match(header):
            raise ValueError(f"{bounded(str(header), 64)!r} is not a header name")
        kind = schema.get("type")
        if kind not in ("string", "integer", "boolean"):
            raise ValueError(f"{header}: only string, integer and boolean parameters may be mirrored")
        found.append((header, path))
    for keyword, value in schema.items():
        if keyword == "properties" and type(value) is dict:
            for name, child in value.items():
                found.extend(_marks(child, (*path, str(name))))
        elif keyword != "properties" and _has_mark(value):
            raise ValueError(f"x-mcp-header under {bounded(keyword, 40)!r}, not a chain of properties")
    return found


def _has_mark(value: Any) -> bool:
    if type(value) is dict:
        return "x-mcp-header" in value or any(_has_mark(child) for child in value.values())
    if type(value) is list:
        return any(_has_mark(child) for child in value)
    return False
