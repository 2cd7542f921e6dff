"""The `io.modelcontextprotocol/skills` extension: `skills/list`, `skills/get` and `resources/directory/read`.

Declared under `capabilities.extensions` with `directoryRead: true` (app/extensions.py does the
declaring, in both eras). The methods answer from what was built when the skills were loaded: an
entry per skill, directories in the registry. Pagination and the cache hints follow the core lists
(`ttlMs`/`cacheScope` on 2026-07-28 only); with authentication on, a caller sees only the skills and
directory children whose scopes it holds, unless BOSUN_AUTH_HIDE_UNAUTHORIZED=false. The gate has
already refused a `skills/get` or directory read the caller lacks the scopes for (security/policy.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bosun.app.directories import Directory
from bosun.app.paging import page
from bosun.app.registry import Registry
from bosun.protocol.call import Call
from bosun.protocol.errors import bounded, invalid_params
from bosun.skills.items import register
from bosun.skills.limits import EXTENSION_ID
from bosun.skills.model import Skill

if TYPE_CHECKING:
    from bosun.app.extensions import Method
    from bosun.app.handlers import Handlers


def uri_of(call: Call) -> str:
    uri = call.params.get("uri")
    if type(uri) is not str:
        raise invalid_params(f"{call.method} needs a 'uri' string")
    return uri


class SkillsExtension:
    """Every skill a server serves; `Server.skills()` adds to the one instance a server has."""

    name = EXTENSION_ID

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.skills: dict[str, Skill] = {}
        self.ordered: list[Skill] = []
        self.handlers: Handlers | None = None

    def add(self, skills: list[Skill], scopes: frozenset[str], list_files: bool) -> None:
        for skill in skills:
            if skill.uri in self.skills:
                raise ValueError(f"a skill at {skill.uri!r} is already served")
        register(self.registry, skills, scopes, list_files)
        for skill in skills:
            self.skills[skill.uri] = skill
        self.ordered = sorted(self.skills.values(), key=lambda skill: skill.uri)

    # The seam (app/extensions.py).
    def settings(self) -> dict[str, Any]:
        return {"directoryRead": True}

    def bind(self, handlers: Handlers) -> None:
        """The server's handlers: page size, cache hints and who may see what, as the core lists use them."""
        self.handlers = handlers

    def methods(self) -> dict[str, Method]:
        return {"skills/list": self.list_skills, "skills/get": self.get_skill, "resources/directory/read": self.read_directory}

    # The methods.
    def _bound(self) -> Handlers:
        if self.handlers is None:
            raise RuntimeError("the skills extension is served only by a server's handlers (app/extensions.py install)")
        return self.handlers

    def _visible(self, call: Call, scopes: frozenset[str]) -> bool:
        principal = call.principal
        return principal is None or not self._bound().hide_unauthorized or scopes <= principal.scopes

    def _scopes(self, uri: str) -> frozenset[str]:
        resource = self.registry.resources.get(uri)
        return resource.scopes if resource is not None else frozenset()

    async def list_skills(self, call: Call) -> dict[str, Any]:
        handlers = self._bound()
        entries = [skill.entry for skill in self.ordered if self._visible(call, self._scopes(skill.uri))]
        return handlers.cache.hint(call, page(call.params, "skills", entries, handlers.page_size))

    async def get_skill(self, call: Call) -> dict[str, Any]:
        handlers = self._bound()
        uri = uri_of(call)
        skill = self.skills.get(uri)
        if skill is None:
            raise invalid_params(f"No skill is served at {bounded(uri)}", {"uri": uri})
        return handlers.cache.hint(call, {"skill": skill.entry}, read=True)

    async def read_directory(self, call: Call) -> dict[str, Any]:
        handlers = self._bound()
        uri = uri_of(call)
        directory: Directory | None = self.registry.directories.get(uri)
        if directory is None:
            if uri in self.registry.resources:
                raise invalid_params(f"{bounded(uri)} is not a directory resource", {"uri": uri})
            raise invalid_params(f"No directory resource at {bounded(uri)}", {"uri": uri})
        children = [item.definition for item in directory.children.values() if self._visible(call, item.scopes)]
        return page(call.params, "resources", children, handlers.page_size)
