"""MCP extensions a `Server` offers beyond the core methods: today, Agent Skills (SEP-2640).

    server = Server("docs")
    server.skills(Path(__file__).parent / "skills")                      # skill://<name>/SKILL.md, ...
    server.skills("team-skills", prefix="acme/billing", scopes=["skills:billing"])

Each call loads a directory when it is made: every limit SEP-2640 sets, the Agent Skills naming
rules and the safety of every path are checked then, and a problem raises `SkillError` naming the
file, so a server with a bad skill never starts. The skills package is imported on first use: a
server without skills loads none of it (nor PyYAML).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bosun.app.extensions import Extension
from bosun.app.registry import Registry

if TYPE_CHECKING:
    from bosun.skills.extension import SkillsExtension
    from bosun.skills.model import Skill


class Extending:
    """The part of `Server` that adds extensions; it needs the registry and the server's extension list."""

    registry: Registry
    extensions: list[Extension]

    def skills(self, directory: str | os.PathLike[str], *, prefix: str = "", scopes: Iterable[str] = (),
               list_files: bool = False) -> list[Skill]:
        """Serve the Agent Skills in `directory` (relative paths are from the current directory, like `migrations`).

        `directory` holds skill directories (each with a `SKILL.md` and any files beside it), or is one.
        `prefix` ("acme/billing") puts them at `skill://acme/billing/<name>/...`; `scopes` are the OAuth
        scopes reading them needs, on top of the server's own; `list_files` also lists every file of a
        skill in `resources/list` (a skill's `SKILL.md` is always listed). Returns the skills loaded."""
        from bosun.skills.loader import load

        if isinstance(scopes, str):
            raise TypeError("scopes is a list of scope names, such as scopes=['skills:read']")
        loaded = load(directory, prefix)
        self._skills_extension().add(loaded, frozenset(scopes), list_files)
        return loaded

    def _skills_extension(self) -> SkillsExtension:
        from bosun.skills.extension import SkillsExtension

        for extension in self.extensions:
            if isinstance(extension, SkillsExtension):
                return extension
        created = SkillsExtension(self.registry)
        self.extensions.append(created)
        return created
