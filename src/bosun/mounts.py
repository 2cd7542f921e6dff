"""Other MCP servers served from a `Server`: one bridged server, or many under prefixes (a gateway).

    server = Server("platform")

    @server.tool()
    def whoami(ctx: Context) -> str: ...

    server.mount("fs", "npx -y @modelcontextprotocol/server-filesystem /data")
    server.mount("tickets", remote=RemoteOptions(url="https://tickets.internal/mcp", header_files={...}))

A mounted server's tools are `fs_read_file`, its resources `file://fs//data/...` (bridge/naming.py),
so adding one never renames another's. Every item, the server's own and the mounted ones, goes
through the same scopes, rate limits, audit trail and metrics. The bridge package is imported on
first use: a server that mounts nothing loads none of it.
"""

from __future__ import annotations

import asyncio
import shlex
from typing import TYPE_CHECKING, Any

from bosun.app.registry import Registry
from bosun.protocol.changes import ChangeHub
from bosun.transport.http.app import Hook

if TYPE_CHECKING:
    from bosun.bridge.bridge import Bridge

_warming: set[asyncio.Future[None]] = set()  # optional bridges' warm-ups, kept referenced until they are done


class Mounts:
    """The part of `Server` that bridges and mounts; it needs the registry, the hub and the hooks."""

    registry: Registry
    hub: ChangeHub
    warmups: list[Hook]
    on_shutdown: list[Hook]
    bridges: list[Bridge]

    def bridge(self, command: str | list[str] | tuple[str, ...] = (), **options: Any) -> Bridge:
        """Serve a stdio MCP server (a list, or a shell-quoted string) from this one; `options`: BridgeOptions' fields."""
        from bosun.bridge.bridge import Bridge
        from bosun.bridge.options import BridgeOptions

        argv = tuple(shlex.split(command) if isinstance(command, str) else command)
        built = BridgeOptions(argv, **options)
        taken = {bridge.name for bridge in self.bridges}
        if built.name in taken:
            raise ValueError(f"a bridge named {built.name!r} is already mounted")
        prefixes = {bridge.options.prefix for bridge in self.bridges}
        if built.prefix in prefixes:
            raise ValueError(f"the prefix {built.prefix!r} is already used by another mounted server")
        if built.prefix:
            clashes = [name for name in [*self.registry.tools, *self.registry.prompts] if name.startswith(built.prefix + "_")]
            if clashes:
                raise ValueError(f"the prefix {built.prefix!r} would hide this server's own {', '.join(map(repr, clashes[:5]))}")
        bridge = Bridge(built, self.registry, self.hub)
        if not self.bridges:
            self.warmups.append(self._warm_bridges)
        self.bridges.append(bridge)
        self.on_shutdown.append(bridge.close)
        return bridge

    async def _warm_bridges(self) -> None:
        """Start every bridge's warm children at once. /startup waits for the required ones; an optional one
        starts in the background, and until it answers it is left out of lists."""
        for bridge in self.bridges:
            if not bridge.options.required:
                _warming.add(task := asyncio.ensure_future(bridge.warm_up()))
                task.add_done_callback(_warming.discard)
        await asyncio.gather(*(bridge.warm_up() for bridge in self.bridges if bridge.options.required))

    def mount(self, prefix: str, command: str | list[str] | tuple[str, ...] = (), **options: Any) -> Bridge:
        """Serve another MCP server's items under `prefix`: a stdio `command`, or `remote=RemoteOptions(...)`.

        A mounted server is optional unless `required=True`: when it is down its items leave the lists
        and its calls get a retryable error, and the rest of this server is not affected."""
        options.setdefault("name", prefix)
        options.setdefault("required", False)
        return self.bridge(command, prefix=prefix, **options)
