"""A loaded skill and its files, as SEP-2640 describes them: URIs, digests, sizes and the entry hosts receive.

Everything here is computed once, when the server is built: a file's digest and its `ResourceContents`,
a skill's entry for `skills/list` and `skills/get`. Requests only hand out what is already built.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from bosun.skills.limits import SCHEME, SKILL_FILE
from bosun.skills.mime import as_text, is_textual, mime_type

_SAFE = "-._~!$&'()*+,;=:@"  # RFC 3986 pchar, less '%' (encoded) and '/' (the separator)
_AUTHORITY_SAFE = "-._~!$&'()*+,;="  # reg-name: no ':' (a port would follow) nor '@' (userinfo would precede)


def uri_of(segments: list[str]) -> str:
    """`skill://seg/seg/...`, each segment percent-encoded where a URI needs it (a space, '#', '?', '%'); the first
    is the URI's authority, an RFC 3986 reg-name."""
    head, *rest = segments
    return SCHEME + "/".join([quote(head, safe=_AUTHORITY_SAFE), *(quote(segment, safe=_SAFE) for segment in rest)])


def last_segment(uri: str) -> str:
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class SkillFile:
    """One file of a skill directory, served as the resource at `uri`."""

    uri: str
    name: str
    mime_type: str
    size: int
    digest: str
    """`sha256:` and 64 lowercase hex digits, over the raw bytes (what a host recomputes)."""
    contents: dict[str, Any]
    """Its `ResourceContents`: `text` when the bytes are UTF-8 that round-trips, else a base64 `blob`."""

    @classmethod
    def of(cls, uri: str, name: str, data: bytes, mime: str | None = None) -> SkillFile:
        chosen = mime or mime_type(name, data)
        text = as_text(data) if is_textual(chosen) else None
        contents: dict[str, Any] = {"uri": uri, "mimeType": chosen}
        if text is not None:
            contents["text"] = text
        else:
            contents["blob"] = base64.b64encode(data).decode("ascii")
        return cls(uri, name, chosen, len(data), "sha256:" + hashlib.sha256(data).hexdigest(), contents)

    def reference(self) -> dict[str, Any]:
        """Its `SkillResource` in an entry."""
        return {"uri": self.uri, "digest": self.digest, "size": self.size}


@dataclass(frozen=True, slots=True)
class Skill:
    """A skill: its `SKILL.md` (first of `files`) and every file under its directory, nested skills' included."""

    uri: str
    """The URI of its SKILL.md, which names the skill in `skills/get`."""
    root: str
    """Its directory resource: `uri` without `/SKILL.md`."""
    frontmatter: dict[str, Any]
    files: tuple[SkillFile, ...]
    directories: tuple[str, ...]
    """The URIs of its subdirectories, empty ones included (each is a directory resource)."""
    entry: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        entry = {"uri": self.uri, "frontmatter": self.frontmatter, "resources": [file.reference() for file in self.files]}
        object.__setattr__(self, "entry", entry)

    @property
    def name(self) -> str:
        return str(self.frontmatter["name"])

    @property
    def total_size(self) -> int:
        return sum(file.size for file in self.files)


def skill_uri(root: str) -> str:
    return f"{root}/{SKILL_FILE}"
