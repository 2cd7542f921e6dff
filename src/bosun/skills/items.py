"""Skills in the server's registry: each file a `Resource`, each directory level a `Directory`.

Because the files are ordinary registry resources, `resources/read`, `resources/list`, subscriptions,
scopes (the gate looks them up like any resource's), the audit trail and metrics apply to them
unchanged. A skill's `SKILL.md` is listed in `resources/list` with the skill's name and description
(SEP-2640, "Resource Metadata"); its other files are readable but listed only when asked for, since a
host finds them through the skill's entry or a directory read. Nothing is registered unless all of it
can be: a URI already taken fails the whole call.
"""

from __future__ import annotations

from typing import Any

from bosun.app.context import Context
from bosun.app.directories import Directory
from bosun.app.registry import Registry
from bosun.app.resources import Resource
from bosun.app.signature import Signature, inspect_function
from bosun.skills.limits import SCHEME
from bosun.skills.model import Skill, SkillFile, last_segment

_signature: Signature | None = None


def _served() -> None:
    """The signature every skill file has: it takes nothing (its contents were read when the server was built)."""


def _shared_signature() -> Signature:
    global _signature
    if _signature is None:
        _signature = inspect_function(_served, "skill file", True)
    return _signature


class SkillFileResource(Resource):
    """A file of a skill: its contents are already in memory, digested; reading hands them out."""

    __slots__ = ("contents", "hidden")

    def __init__(self, file: SkillFile, definition: dict[str, Any], scopes: frozenset[str], hidden: bool) -> None:
        self.uri = file.uri
        self.fn = _served
        self.signature = _shared_signature()
        self.mime_type = file.mime_type
        self.ttl_ms = None
        self.cache_scope = None
        self.definition = definition
        self.scopes = scopes
        self.contents = [file.contents]
        self.hidden = hidden

    async def read(self, ctx: Context | None) -> list[dict[str, Any]]:
        return self.contents


def _parent(uri: str) -> str | None:
    parent = uri.rsplit("/", 1)[0]
    return parent if parent.startswith(SCHEME) and len(parent) > len(SCHEME) else None


def _definition(file: SkillFile, described: Skill | None) -> dict[str, Any]:
    if described is not None:  # a SKILL.md: named and described from its frontmatter
        return {"uri": file.uri, "name": described.name, "description": described.frontmatter["description"],
                "mimeType": file.mime_type, "size": file.size}
    return {"uri": file.uri, "name": file.name, "mimeType": file.mime_type, "size": file.size}


def register(registry: Registry, skills: list[Skill], scopes: frozenset[str], list_files: bool) -> None:
    """Put the skills' files and directories in `registry`; ValueError, registering nothing, if a URI is taken."""
    by_manifest = {skill.uri: skill for skill in skills}
    files = {file.uri: file for skill in skills for file in skill.files}
    directories: set[str] = set()
    for skill in skills:
        directories.update(skill.directories)
        level: str | None = skill.root
        while level is not None:
            directories.add(level)
            level = _parent(level)
    for uri in files:
        if uri in registry.resources or uri in registry.directories:
            raise ValueError(f"a resource at {uri!r} is already registered")
    for uri in directories:
        if uri in registry.resources:
            raise ValueError(f"{uri!r} is a directory of skills, and a resource is already registered there")
    for uri in sorted(directories):
        existing = registry.directories.get(uri)
        if existing is None:
            registry.directories[uri] = Directory(uri, last_segment(uri), scopes)
        else:
            existing.scopes = existing.scopes & scopes
    for uri, file in files.items():
        described = by_manifest.get(uri)
        item = SkillFileResource(file, _definition(file, described), scopes, hidden=described is None and not list_files)
        registry.resources[uri] = item
        _adopt(registry, uri, item)
    for uri in directories:
        _adopt(registry, uri, registry.directories[uri])
    for uri in directories:
        directory = registry.directories[uri]
        directory.children = dict(sorted(directory.children.items()))


def _adopt(registry: Registry, uri: str, item: Any) -> None:
    parent = _parent(uri)
    if parent is not None:
        registry.directories[parent].children[uri] = item
