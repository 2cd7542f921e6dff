"""Which scopes an operation needs, read from the registry as it is now (tools may come and go at run time).

Every operation needs the server's own scopes (BOSUN_AUTH_SCOPES); calling a
tool, reading or subscribing to a resource, getting or completing a prompt also
needs what that item declares (`scopes=[...]` at registration). A 2026
`subscriptions/listen` needs, for every URI in its `resourceSubscriptions`, what
`resources/subscribe` would need for it: the stream would otherwise carry updates
the caller may not subscribe to. Lists show a caller only what it may use unless
BOSUN_AUTH_HIDE_UNAUTHORIZED=false. The skills extension's `skills/get` needs what reading the
skill's `SKILL.md` needs, and `resources/directory/read` what its directory declares (app/directories.py).
"""

from __future__ import annotations

import time
from typing import Any

from bosun.app.registry import Registry
from bosun.app.tools import Tool
from bosun.protocol.principal import Principal

_TARGETED = {"tools/call": "tool", "prompts/get": "prompt", "resources/read": "resource", "resources/subscribe": "resource",
             "skills/get": "resource", "resources/directory/read": "resource"}
_BY_URI = ("resources/read", "resources/subscribe", "resources/unsubscribe", "skills/get", "resources/directory/read")


def target_of(method: str, params: Any) -> str | None:
    """The name or URI a request acts on, for challenges and the audit trail."""
    if type(params) is not dict:
        return None
    if method in ("tools/call", "prompts/get"):
        name = params.get("name")
        return name if type(name) is str else None
    if method in _BY_URI:
        uri = params.get("uri")
        return uri if type(uri) is str else None
    if method == "completion/complete":
        ref = params.get("ref")
        if type(ref) is dict:
            found = ref.get("name") if ref.get("type") == "ref/prompt" else ref.get("uri")
            return found if type(found) is str else None
    return None


class Policy:
    def __init__(self, registry: Registry, base: frozenset[str], hide_unauthorized: bool,
                 scopes_supported: tuple[str, ...] | None) -> None:
        self.registry = registry
        self.base = base
        self.hide_unauthorized = hide_unauthorized
        self._supported_override = scopes_supported
        self._supported: tuple[float, tuple[str, ...]] = (-1.0, ())

    def required(self, method: str, params: Any) -> frozenset[str]:
        kind = _TARGETED.get(method)
        if kind is None and method != "completion/complete":
            return self._listen_scopes(params) if method == "subscriptions/listen" else self.base
        target = target_of(method, params)
        if target is None:
            return self.base
        registry = self.registry
        declared: frozenset[str] = frozenset()
        if kind == "tool":
            tool = registry.tools.get(target)
            return self.tool_scopes(tool) if tool is not None else self.base
        elif kind == "prompt" or (method == "completion/complete" and params["ref"].get("type") == "ref/prompt"):
            prompt = registry.prompts.get(target)
            declared = prompt.scopes if prompt is not None else declared
        else:
            declared = self._resource_scopes(target)
        return self.base | declared if declared else self.base

    def tool_scopes(self, tool: Tool) -> frozenset[str]:
        """What calling `tool` needs: the server's scopes and the tool's own."""
        return self.base | tool.scopes if tool.scopes else self.base

    def _listen_scopes(self, params: Any) -> frozenset[str]:
        """What a listen needs: the server's scopes and those of every resource it asks updates for.

        Refused whole (403 naming the scopes) rather than silently narrowed: the same answer as
        `resources/subscribe` in a 2025 session, and the challenge tells the client what to step up to.
        """
        wanted = params.get("notifications") if type(params) is dict else None
        uris = wanted.get("resourceSubscriptions") if type(wanted) is dict else None
        if type(uris) is not list:
            return self.base
        declared: frozenset[str] = frozenset()
        for uri in set(uri for uri in uris if type(uri) is str):
            declared |= self._resource_scopes(uri)
        return self.base | declared if declared else self.base

    def _resource_scopes(self, uri: str) -> frozenset[str]:
        registry = self.registry
        found = registry.resources.get(uri)
        if found is not None:
            return found.scopes
        directory = registry.directories.get(uri)
        if directory is not None:
            return directory.scopes
        for template in registry.templates:
            if template.uri_template == uri or template.match(uri) is not None:
                return template.scopes
        return frozenset()

    def visible(self, principal: Principal | None, declared: frozenset[str]) -> bool:
        """Whether a list shows an item that needs `declared` to this caller."""
        return not declared or principal is None or not self.hide_unauthorized or declared <= principal.scopes

    def scopes_supported(self) -> tuple[str, ...]:
        """For protected resource metadata and 401 hints: the server's scopes and every declared one (never offline_access)."""
        if self._supported_override is not None:
            return tuple(scope for scope in self._supported_override if scope != "offline_access")
        stamp, cached = self._supported
        now = time.monotonic()
        if now - stamp < 1.0:
            return cached
        registry = self.registry
        scopes = set(self.base)
        for group in (registry.tools.values(), registry.prompts.values(), registry.resources.values(), registry.templates):
            for item in group:
                scopes |= item.scopes
        scopes.discard("offline_access")
        found = tuple(sorted(scopes))
        self._supported = (now, found)
        return found

    def challenge_scopes(self) -> tuple[str, ...]:
        """What a 401 asks for: the server's own scopes if it has any, else everything it supports."""
        return tuple(sorted(self.base)) if self.base else self.scopes_supported()
