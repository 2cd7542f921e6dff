"""The registry of what a server offers, and the lookups the handlers need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bosun.app.directories import Directory
from bosun.app.prompts import Prompt
from bosun.app.resources import Resource, ResourceTemplate
from bosun.app.tools import Tool

Completer = Callable[..., Any]


@dataclass(slots=True)
class Registry:
    tools: dict[str, Tool] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    templates: list[ResourceTemplate] = field(default_factory=list)
    prompts: dict[str, Prompt] = field(default_factory=dict)
    directories: dict[str, Directory] = field(default_factory=dict)
    """Directory resources (`inode/directory`) by URI: listed by `resources/directory/read`, never read."""
    # (ref type, prompt name or URI template, argument name) -> completer
    completers: dict[tuple[str, str, str], Completer] = field(default_factory=dict)

    def find_resource(self, uri: str) -> tuple[Resource | ResourceTemplate, dict[str, str]] | None:
        exact = self.resources.get(uri)
        if exact is not None:
            return exact, {}
        for template in self.templates:
            variables = template.match(uri)
            if variables is not None:
                return template, variables
        return None
