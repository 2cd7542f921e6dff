"""A server's bridges as the handlers' one catalog source, each failing alone.

Before a list, every bridge whose lists are stale is asked to load them, all at once. With several
bridges (a gateway) or an optional one, a bridge that fails is left out of the list rather than
failing it, and one that is slow is waited for only `list_wait` seconds: the list is served
without it, its load goes on, and the clients are told the lists changed when it is done. A bridge
whose children are backing off or crash-looping is taken out of lists at once; it comes back when a
load succeeds again.

A name the registry does not know (a call, a read, a prompt, a skill or a skill's directory) is asked of the bridges whose prefix
it carries and of no other, so a dead backend can only fail its own calls: with its retryable 503,
which says why, rather than "unknown tool".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from bosun.bridge.bridge import Bridge
from bosun.ops.logs import bounded
from bosun.protocol.call import Call
from bosun.protocol.errors import FORBIDDEN, McpError

log = logging.getLogger("bosun.bridge")
_OUT = ("crash-looping", "backing-off")
_BY_URI = ("resources/read", "skills/get", "resources/directory/read")  # the last two: bridge/skills.py


class Catalog:
    def __init__(self, bridges: Sequence[Bridge], list_wait: float = 2.0) -> None:
        self.bridges = bridges
        self.list_wait = list_wait
        self._loads: dict[str, asyncio.Task[None]] = {}  # bridge name -> its load, while it runs
        self._late: set[asyncio.Task[None]] = set()  # loads a list stopped waiting for

    def _contained(self, bridge: Bridge) -> bool:
        """Whether a failure of this bridge is kept out of the lists (always, but for a server's one required bridge)."""
        return len(self.bridges) > 1 or not bridge.options.required

    async def refresh(self, call: Call) -> None:
        if call.method.endswith("/list"):
            await self._lists(call)
            return
        params = call.params
        by_uri = call.method in _BY_URI
        target = params.get("uri") if by_uri else params.get("name")
        if type(target) is not str:
            return
        for bridge in self.bridges:
            naming = bridge.naming
            if naming.owns_uri(target) if by_uri else naming.owns_name(target):
                await bridge.refresh(call)  # its own failure, retryable, is this call's answer
        self._check_scopes(call, target)

    def _check_scopes(self, call: Call, target: str) -> None:
        """The gate checked this request's scopes before the item was known (it was not loaded yet), so only the
        server's own: the item's are checked here, once it is, with the same 403 the gate gives."""
        principal = call.principal
        if principal is None or not self.bridges:
            return
        registry = self.bridges[0].registry  # the server's, which every bridge of it fills
        item: Any = None
        if call.method == "tools/call":
            item = registry.tools.get(target)
        elif call.method == "prompts/get":
            item = registry.prompts.get(target)
        else:
            found = registry.find_resource(target)
            item = found[0] if found is not None else None
        needed: frozenset[str] = getattr(item, "scopes", frozenset())
        if needed and not needed <= principal.scopes:
            scope = " ".join(sorted(needed))
            raise McpError(FORBIDDEN, f"Forbidden: {call.method} {bounded(target)} needs scope {scope}",
                           {"error": "insufficient_scope", "scope": scope}, http_status=403)

    async def _lists(self, call: Call) -> None:
        waiting: dict[asyncio.Task[None], Bridge] = {}
        for bridge in self.bridges:
            if self._contained(bridge) and bridge.pool.state() in _OUT:
                if bridge.degraded is None or not bridge.stale:
                    bridge.withdraw(f"it is {bridge.pool.state()}")
                continue
            if not bridge.stale:
                continue
            load = self._loads.get(bridge.name)
            if load is None or load.done():
                load = self._loads[bridge.name] = asyncio.ensure_future(bridge.refresh(call))
                load.add_done_callback(lambda task, bridge=bridge: self._loaded(bridge, task))  # type: ignore[misc]
            waiting[load] = bridge
        if not waiting:
            return
        contained = all(self._contained(bridge) for bridge in waiting.values())
        # asyncio.wait never cancels what it waits for: a slow load goes on after the list is served.
        _, pending = await asyncio.wait(waiting, timeout=self.list_wait if contained else None)
        self._late.update(pending)
        for task, bridge in waiting.items():
            if task.done() and not task.cancelled() and not self._contained(bridge):
                failure = task.exception()
                if failure is not None:
                    raise failure

    def _loaded(self, bridge: Bridge, task: asyncio.Task[None]) -> None:
        """A load ended: a failed one leaves the bridge out of lists; one that ended after its list went on
        without it tells the clients the lists changed."""
        late = task in self._late
        self._late.discard(task)
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            if self._contained(bridge):
                bridge.withdraw(bridge.degraded or type(failure).__name__)
                log.warning("bridge %s: left out of lists: %s", bridge.name, bridge.degraded)
            return
        if late:
            for kind in ("tools", "prompts", "resources"):
                bridge.hub.deliver(kind)
