"""A `SKILL.md`'s frontmatter: found as hosts find it, read as YAML 1.2, checked against the Agent Skills rules.

The block is what the official conformance suite and hosts take it to be: an optional byte-order mark,
a first line `---`, and everything up to the next line that is `---` (trailing blanks allowed). What
the author wrote passes through whole (SEP-2640: "every field the author wrote, not a curated
subset"); only the fields the Agent Skills specification defines are checked.
"""

from __future__ import annotations

import re
from typing import Any

from bosun.skills.limits import (
    MAX_COMPATIBILITY,
    MAX_DESCRIPTION,
    MAX_FRONTMATTER_BYTES,
    RESERVED_METADATA_PREFIX,
    name_problem,
)
from bosun.skills.yaml12 import FrontmatterError, load_yaml

_BLOCK = re.compile(r"---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|\Z)")


def split(text: str) -> str:
    """The frontmatter block of a `SKILL.md` (without its `---` lines)."""
    found = _BLOCK.match(text.removeprefix("\ufeff"))
    if found is None:
        raise FrontmatterError("it does not begin with YAML frontmatter: a line '---', the fields, then a line '---'")
    block = found.group(1)
    if len(block.encode()) > MAX_FRONTMATTER_BYTES:
        raise FrontmatterError(f"its frontmatter is over {MAX_FRONTMATTER_BYTES // 1024} KiB")
    return block


def _optional_text(data: dict[str, Any], key: str, limit: int | None = None) -> None:
    value = data.get(key)
    if key not in data:
        return
    if type(value) is not str or not value.strip():
        raise FrontmatterError(f"'{key}' must be a non-empty string")
    if limit is not None and len(value) > limit:
        raise FrontmatterError(f"'{key}' is {len(value)} characters, more than the {limit} the Agent Skills specification allows")


def parse(text: str, directory_name: str) -> dict[str, Any]:
    """The frontmatter of a `SKILL.md` whose skill directory is `directory_name`, as a JSON object.

    Raises FrontmatterError naming the field at fault."""
    data = load_yaml(split(text))
    if type(data) is not dict:
        raise FrontmatterError("its frontmatter is not a YAML mapping of fields")
    name = data.get("name")
    if type(name) is not str:
        raise FrontmatterError("the frontmatter has no 'name' string")
    problem = name_problem(name)
    if problem is not None:
        raise FrontmatterError(problem)
    if name != directory_name:
        raise FrontmatterError(f"'name' is {name!r} but the skill's directory is {directory_name!r}; they must be the same "
                               "(the last segment of the skill's URI is its name)")
    description = data.get("description")
    if type(description) is not str or not description.strip():
        raise FrontmatterError("the frontmatter has no non-empty 'description' string")
    if len(description) > MAX_DESCRIPTION:
        raise FrontmatterError(f"'description' is {len(description)} characters, more than the {MAX_DESCRIPTION} allowed")
    _optional_text(data, "license")
    _optional_text(data, "compatibility", MAX_COMPATIBILITY)
    _optional_text(data, "allowed-tools")
    metadata = data.get("metadata")
    if "metadata" in data:
        if type(metadata) is not dict:
            raise FrontmatterError("'metadata' must be a mapping of string keys to string values")
        for key, value in metadata.items():
            if type(value) is not str:
                raise FrontmatterError(f"metadata.{key} must be a string (quote it: {key}: \"{value}\")")
            if key.startswith(RESERVED_METADATA_PREFIX):
                raise FrontmatterError(f"metadata key {key!r}: keys under {RESERVED_METADATA_PREFIX} are reserved for MCP extensions")
    return data
