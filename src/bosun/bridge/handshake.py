"""Which era a child speaks, found once per child: `server/discover` first, `initialize` if that fails.

A 2026-07-28 server answers `server/discover` with the versions it supports; every later request
then carries its own `_meta` envelope and no session exists. A server that only speaks the 2025
revisions answers with an error (or, for some, exits): then Bosun opens the one session it will use
for this child with `initialize`. The bridge remembers the answer for its command, so later children
(and restarts) go straight to the handshake that worked.

Bosun declares only the client capabilities it can route to whoever caused a request: elicitation
and sampling, asked mid-call, reach that call's client; and MCP Apps, whose views it passes through.
Roots are not declared: a child asks for them when it likes, outside any call, and a shared child has
no one client whose roots they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bosun.bridge.rpc import ChildGone, Link
from bosun.protocol.call import META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION
from bosun.protocol.errors import McpError
from bosun.protocol.versions import LATEST_LEGACY, MODERN_VERSIONS
from bosun.version import __version__

CLIENT_INFO = {"name": "bosun-bridge", "version": __version__}
ROUTABLE_CAPABILITIES: dict[str, Any] = {"elicitation": {"form": {}}, "sampling": {}, "extensions": {
    # MCP Apps: Bosun passes views through and gives its own clients without the extension the text fallback
    # (bosun/apps), so a child may show it what it shows a host that renders views.
    "io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}
MODERN = MODERN_VERSIONS[0]
RESERVED_META = "io.modelcontextprotocol/"


class HandshakeFailed(Exception):
    """The child did not complete a handshake it was offered (wrong answers, or it exited during it)."""


@dataclass(slots=True)
class ChildInfo:
    modern: bool
    version: str
    capabilities: dict[str, Any] = field(default_factory=dict)
    server_info: dict[str, Any] = field(default_factory=dict)
    instructions: str | None = None


def envelope(capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `_meta` every request to a 2026-07-28 child carries (the bridge is that child's client)."""
    return {META_PROTOCOL_VERSION: MODERN, META_CLIENT_INFO: CLIENT_INFO,
            META_CLIENT_CAPABILITIES: ROUTABLE_CAPABILITIES if capabilities is None else capabilities}


async def discover(upstream: Link, timeout: float) -> ChildInfo | None:
    """The child's answer to `server/discover` if it is a 2026-07-28 server, else None (it is not)."""
    try:
        result = await upstream.request("server/discover", {"_meta": envelope()}, timeout)
    except ChildGone:
        raise
    except McpError:
        return None
    versions = result.get("supportedVersions")
    if type(versions) is not list or MODERN not in versions:
        return None
    return _info(True, MODERN, result)


async def initialize(upstream: Link, timeout: float) -> ChildInfo:
    """Open the child's one 2025 session; Bosun is its only client."""
    params = {"protocolVersion": LATEST_LEGACY, "capabilities": ROUTABLE_CAPABILITIES, "clientInfo": CLIENT_INFO}
    try:
        result = await upstream.request("initialize", params, timeout)
    except McpError as failure:
        if isinstance(failure, ChildGone):
            raise
        raise HandshakeFailed(f"initialize was refused: {failure.message}") from None
    version = result.get("protocolVersion")
    if type(version) is not str:
        raise HandshakeFailed("initialize was answered without a protocolVersion")
    await upstream.notify("notifications/initialized", {})
    return _info(False, version, result)


def _info(modern: bool, version: str, result: dict[str, Any]) -> ChildInfo:
    capabilities = result.get("capabilities")
    server_info = result.get("serverInfo")
    meta = result.get("_meta")
    if type(server_info) is not dict and type(meta) is dict:
        server_info = meta.get("io.modelcontextprotocol/serverInfo")
    instructions = result.get("instructions")
    return ChildInfo(modern, version, capabilities if type(capabilities) is dict else {},
                     server_info if type(server_info) is dict else {},
                     instructions if type(instructions) is str else None)


def outbound_meta(client_meta: dict[str, Any], modern_child: bool, progress_token: str | None,
                  capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `_meta` for the next hop: the client's reserved keys are for Bosun's hop and stay here; the
    child's own come from the bridge. The progress token is the one Bosun minted for this call."""
    meta = {key: value for key, value in client_meta.items()
            if not key.startswith(RESERVED_META) and key != "progressToken"}
    if modern_child:
        meta.update(envelope(capabilities))
    if progress_token is not None:
        meta["progressToken"] = progress_token
    return meta


def inbound(result: dict[str, Any]) -> dict[str, Any]:
    """A child's result on its way to the client: the child's reserved `_meta` keys are for the last hop only.

    So is a 2026-07-28 child's `resultType: "complete"`: a 2025 client's revision has no such field, and
    Bosun's own 2026-07-28 transports add it to every finished result (an `input_required` is kept: the
    bridge reads it next)."""
    if result.get("resultType") == "complete":
        result = {key: value for key, value in result.items() if key != "resultType"}
    meta = result.get("_meta")
    if type(meta) is dict and any(key.startswith(RESERVED_META) for key in meta):
        kept = {key: value for key, value in meta.items() if not key.startswith(RESERVED_META)}
        result = {key: value for key, value in result.items() if key != "_meta"}
        if kept:
            result["_meta"] = kept
    return result
