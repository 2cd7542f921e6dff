"""The protocol revisions Bosun speaks, split by era.

Modern revisions (2026-07-28 on) are stateless: every request carries its
version in `_meta`. Legacy revisions negotiate a version once, in `initialize`,
and keep it for the life of an HTTP session.
"""

from __future__ import annotations

from typing import Final

MODERN_VERSIONS: Final[tuple[str, ...]] = ("2026-07-28",)
LEGACY_VERSIONS: Final[tuple[str, ...]] = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_LEGACY: Final[str] = LEGACY_VERSIONS[0]
ALL_VERSIONS: Final[tuple[str, ...]] = MODERN_VERSIONS + LEGACY_VERSIONS
# A legacy client that sends no MCP-Protocol-Version header predates 2025-06-18.
DEFAULT_HEADERLESS_VERSION: Final[str] = "2025-03-26"
# The only revision that allowed JSON-RPC batches.
BATCHING_VERSIONS: Final[frozenset[str]] = frozenset({"2025-03-26"})

_MODERN = frozenset(MODERN_VERSIONS)
_LEGACY = frozenset(LEGACY_VERSIONS)


def is_modern(version: str) -> bool:
    return version in _MODERN


def is_legacy(version: str) -> bool:
    return version in _LEGACY


def negotiate_legacy(requested: object) -> str:
    """Answer an `initialize`: the client's version if we speak it, else our newest legacy one."""
    if isinstance(requested, str) and requested in _LEGACY:
        return requested
    return LATEST_LEGACY

