"""What SEP-2640 and the Agent Skills specification bound, in one place, and the checks on names.

Per skill (SEP-2640, "Limits"): at most 512 files (`SKILL.md` included) and 16 MiB summed over them;
every conforming host accepts skills up to these, and a server SHOULD NOT serve one beyond them, so
Bosun refuses to start with one. The frontmatter bounds are the Agent Skills specification's. The
walk's own bounds (depth, one file's size before reading it) keep a mistaken directory (a home
directory, a checkout with its build output) from being read at all.
"""

from __future__ import annotations

import re

EXTENSION_ID = "io.modelcontextprotocol/skills"
SCHEME = "skill://"
SKILL_FILE = "SKILL.md"

MAX_FILES_PER_SKILL = 512
MAX_BYTES_PER_SKILL = 16 * 1024 * 1024  # 16 MiB, summed over the skill's files
MAX_DEPTH = 32  # directory levels below the skills directory
MAX_FRONTMATTER_BYTES = 64 * 1024

MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_COMPATIBILITY = 500
RESERVED_METADATA_PREFIX = "io.modelcontextprotocol/"

# Agent Skills: 1-64 characters, lowercase letters, digits and hyphens, no leading, trailing or double hyphen.
_NAME = re.compile(r"(?!.*--)[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
# A URI path segment, and the authority's reg-name (RFC 3986), as a skill path's segments must be.
_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+\Z")
_REG_NAME = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+\Z")


def name_problem(name: str) -> str | None:
    """Why `name` breaks the Agent Skills naming rules, or None."""
    if _NAME.match(name):
        return None
    return (f"the name {name!r} breaks the Agent Skills naming rules: 1-{MAX_NAME} characters, lowercase letters, "
            f"digits and hyphens, not starting or ending with a hyphen, no two hyphens in a row")


def prefix_problem(segments: list[str]) -> str | None:
    """Why an organizational prefix (`acme/billing`) cannot lead skill URIs, or None."""
    for index, segment in enumerate(segments):
        if segment in ("", ".", ".."):
            return f"the prefix has an empty, '.' or '..' segment ({'/'.join(segments)!r})"
        pattern = _REG_NAME if index == 0 else _SEGMENT
        if not pattern.match(segment):
            where = "its first segment is the URI's authority and must be an RFC 3986 reg-name" if index == 0 else \
                "each segment must be a valid URI path segment"
            return f"the prefix segment {segment!r} is not allowed: {where}"
    return None
