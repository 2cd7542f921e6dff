"""A bridged server's Agent Skills (SEP-2640) passed through under its prefix, beside the server's own.

A server with bridges declares `io.modelcontextprotocol/skills` up front (`initialize` never waits for a
backend, so what the backends offer cannot decide it), and serves the extension's methods by merging
and routing:

* `skills/list` walks the server's own skills, then each bridge whose child declared the extension, a
  source at a time; the cursor names the source and carries that source's own cursor. A backend that
  fails is left out of the list, as the core lists leave it out.
* `skills/get` and `resources/directory/read` of a URI under a bridge's prefix (`naming.upstream_uri`)
  go to that bridge with the backend's own URI; its failure (down, restarting) is the answer, the same
  retryable 503 as its tools. The catalog (catalog.py) has already loaded the bridge and checked the
  scopes of the URI, as for a read.
* every URI in an answer is renamed with the prefix (`skill://triage/SKILL.md` is
  `skill://<prefix>/triage/SKILL.md`); the frontmatter never is, since SEP-2640 requires it to equal the
  `SKILL.md` a host reads. So skill names stay the backend's own: two backends' `triage` skills are two
  skills told apart by their URIs (SEP-2640 identifies a skill by its URI; the prefix is a path prefix).

A child that declares the extension gets one hidden template over its whole prefixed `skill://` space
(`SkillFiles`), so `resources/read` reaches every file of its skills, listed in `resources/list` or
not, and the bridge's `scopes` (its `tool_scopes["*"]`) apply to them. This module reaches the server
through the extensions seam only; the bridge package imports it, never the other way round.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from bosun.app.context import Context
from bosun.app.paging import page
from bosun.app.registry import Registry
from bosun.bridge.items import BridgedTemplate, Forwarder
from bosun.bridge.naming import Naming
from bosun.protocol.call import Call
from bosun.protocol.errors import McpError, bounded, invalid_params
from bosun.skills.extension import SkillsExtension, uri_of
from bosun.skills.limits import EXTENSION_ID, SCHEME

if TYPE_CHECKING:
    from bosun.app.extensions import Extension

log = logging.getLogger("bosun.bridge")
SPACE = SCHEME + "{+path}"


def skill_space(capabilities: dict[str, Any]) -> list[dict[str, Any]]:
    """The template over a child's `skill://` space when it declared the extension, else none (for listing.load)."""
    extensions = capabilities.get("extensions")
    if type(extensions) is dict and EXTENSION_ID in extensions:
        return [{"uriTemplate": SPACE, "name": "skill files"}]
    return []


class SkillFiles(BridgedTemplate):
    """Every file under a bridge's prefixed `skill://` space: readable, never listed."""

    __slots__ = ()
    hidden = True


class Skilled(Forwarder, Protocol):
    name: str
    registry: Registry


def renamed(value: Any, naming: Naming) -> Any:
    """`value` with every `uri` in it named as the client knows it; a `frontmatter` is left as the file has it."""
    if type(value) is dict:
        return {key: naming.uri(item) if key == "uri" and type(item) is str else
                item if key == "frontmatter" else renamed(item, naming) for key, item in value.items()}
    if type(value) is list:
        return [renamed(item, naming) for item in value]
    return value


def _cursor(source: str, theirs: str | None) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([source, theirs])).decode()


def _uncursor(params: dict[str, Any]) -> tuple[str, str | None]:
    cursor = params.get("cursor")
    if cursor is None:
        return "", None
    try:
        source, theirs = orjson.loads(base64.urlsafe_b64decode(str(cursor).encode()))
    except (ValueError, TypeError):
        raise invalid_params("Invalid cursor") from None
    if type(source) is not str or (theirs is not None and type(theirs) is not str):
        raise invalid_params("Invalid cursor")
    return source, theirs


class BridgedSkills(SkillsExtension):
    """The skills extension of a server with bridges: its own skills (`Server.skills()`) and its bridges'."""

    def __init__(self, registry: Registry, bridges: Sequence[Skilled]) -> None:
        super().__init__(registry)
        self.bridges = bridges  # the server's list: bridges mounted later are in it

    @staticmethod
    def serve(extensions: list[Extension], registry: Registry, bridges: Sequence[Skilled]) -> None:
        """Make `extensions` hold one skills extension that carries the bridges' skills (taking over the server's own)."""
        for index, extension in enumerate(extensions):
            if isinstance(extension, BridgedSkills):
                return
            if isinstance(extension, SkillsExtension):
                merged = BridgedSkills(registry, bridges)
                merged.skills, merged.ordered = extension.skills, extension.ordered
                extensions[index] = merged
                return
        extensions.append(BridgedSkills(registry, bridges))

    def _skilled(self, bridge: Skilled) -> SkillFiles | None:
        """The bridge's skill space, when its child declared the extension and its lists are loaded."""
        return next((item for item in self.registry.templates if isinstance(item, SkillFiles) and item.bridge is bridge), None)

    def _owner(self, uri: str) -> tuple[Skilled, str] | None:
        """The bridge whose prefix `uri` carries (a prefixed one before one without), and its own URI."""
        for bridge in sorted(self.bridges, key=lambda bridge: not bridge.naming.prefix):
            upstream = bridge.naming.upstream_uri(uri)
            if upstream is not None:
                return bridge, upstream
        return None

    async def _refresh(self, call: Call) -> None:
        for source in self._bound().sources:
            await source.refresh(call)

    async def _page_of(self, source: str, theirs: str | None, call: Call) -> tuple[list[Any], str | None]:
        params = {"cursor": theirs} if theirs is not None else {}
        if not source:
            own = page(params, "skills", [skill.entry for skill in self.ordered if self._visible(call, self._scopes(skill.uri))],
                       self._bound().page_size)
            return own["skills"], own.get("nextCursor")
        bridge = next(bridge for bridge in self.bridges if bridge.name == source)
        space = self._skilled(bridge)
        if space is None or not self._visible(call, space.scopes):
            return [], None
        try:
            result = await bridge.forward("skills/list", params, Context(call, app=self._bound().app))
        except McpError as failure:
            log.warning("bridge %s: skills/list failed (left out of the list): %s", bridge.name, failure.message)
            return [], None
        skills = result.get("skills")
        theirs = result.get("nextCursor")
        entries = [renamed(entry, bridge.naming) for entry in (skills if type(skills) is list else []) if type(entry) is dict]
        return entries, theirs if type(theirs) is str and theirs else None

    async def list_skills(self, call: Call) -> dict[str, Any]:
        await self._refresh(call)  # the catalog loads every stale bridge (a failing one is left out)
        order = ["", *(bridge.name for bridge in self.bridges if self._skilled(bridge) is not None)]
        source, theirs = _uncursor(call.params)
        if source not in order:  # a backend that has left since: go on with those after it
            names = ["", *(bridge.name for bridge in self.bridges)]
            if source not in names:
                raise invalid_params("Invalid cursor")
            after = names[names.index(source) + 1:]
            order, theirs = ["", *(name for name in order if name in after)], None
        index = order.index(source) if source in order else 1
        entries: list[Any] = []
        following: str | None = None
        while index < len(order):
            entries, theirs = await self._page_of(order[index], theirs, call)
            if theirs is not None:
                following = _cursor(order[index], theirs)
                break
            index += 1
            if entries:
                following = _cursor(order[index], None) if index < len(order) else None
                break
        result: dict[str, Any] = {"skills": entries}
        if following is not None:
            result["nextCursor"] = following
        return self._bound().cache.hint(call, result)

    async def _forwarded(self, call: Call, params: dict[str, Any]) -> tuple[Skilled, dict[str, Any]] | None:
        """The answer of the bridge that owns the call's URI (None: no bridge does, the server's own answers)."""
        uri = uri_of(call)
        if uri in self.skills or uri in self.registry.directories or self._owner(uri) is None:
            return None
        await self._refresh(call)  # loads the owner (its failure, a retryable 503, is the answer) and checks scopes
        owner = self._owner(uri)
        if owner is None or self._skilled(owner[0]) is None:
            raise invalid_params(f"No skill is served at {bounded(uri)}", {"uri": uri})
        bridge, upstream = owner
        result = await bridge.forward(call.method, {**params, "uri": upstream}, Context(call, app=self._bound().app))
        return bridge, result

    async def get_skill(self, call: Call) -> dict[str, Any]:
        forwarded = await self._forwarded(call, {})
        if forwarded is None:
            return await super().get_skill(call)
        bridge, result = forwarded
        skill = result.get("skill")
        if type(skill) is not dict:
            raise invalid_params(f"The bridged server {bridge.name} answered skills/get without a skill")
        return self._bound().cache.hint(call, {"skill": renamed(skill, bridge.naming)}, read=True)

    async def read_directory(self, call: Call) -> dict[str, Any]:
        cursor = call.params.get("cursor")
        forwarded = await self._forwarded(call, {"cursor": cursor} if cursor is not None else {})
        if forwarded is None:
            return await super().read_directory(call)
        bridge, result = forwarded
        children = result.get("resources")
        answer: dict[str, Any] = {"resources": renamed(children if type(children) is list else [], bridge.naming)}
        if type(result.get("nextCursor")) is str:
            answer["nextCursor"] = result["nextCursor"]
        return answer
