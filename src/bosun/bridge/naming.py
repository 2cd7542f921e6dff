"""A backend's names as clients see them: a prefix per backend, reversible, and checked.

Several servers behind one endpoint would collide (two `search` tools, two `file:///` trees), and a
gateway that renames an existing backend's tools when another is added breaks every client that
stored a name. So each backend has its own prefix, on by default, and a name is made from it alone:

* tools and prompts: `<prefix>_<name>` (a prefix holds no `_`, so the first `_` ends it);
* resource URIs and templates with an authority part: `scheme://<prefix>/<rest>`, so a `ui://` view
  stays a `ui://` resource and an `https://` one stays `https://`; any other URI: `<prefix>+<uri>`.

Either way the public form names exactly one backend and gives back exactly one upstream name, so
two backends' names can never meet, whatever they are called upstream. A name that breaks the
specification's rules for tool names (1-128 characters of `A-Z a-z 0-9 _ - .`) once prefixed is
left out, with a warning, rather than offered to clients that would refuse it.
"""

from __future__ import annotations

import re

PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
PREFIX_RULE = "a lowercase letter, then lowercase letters, digits or '-', at most 32 (no '_': it ends the prefix)"


class Naming:
    """The public names of one backend's items; the empty prefix leaves every name as it is."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "") -> None:
        if prefix and not PREFIX.match(prefix):
            raise ValueError(f"prefix {prefix!r}: {PREFIX_RULE}")
        self.prefix = prefix

    def name(self, upstream: str) -> str:
        return f"{self.prefix}_{upstream}" if self.prefix else upstream

    def owns_name(self, public: str) -> bool:
        return not self.prefix or public.startswith(self.prefix + "_")

    def uri(self, upstream: str) -> str:
        if not self.prefix:
            return upstream
        scheme, separator, rest = upstream.partition("://")
        if separator and scheme:
            return f"{scheme}://{self.prefix}/{rest}"
        return f"{self.prefix}+{upstream}"

    def upstream_uri(self, public: str) -> str | None:
        """The backend's own URI for a public one, or None when `public` is not this backend's."""
        if not self.prefix:
            return public
        scheme, separator, rest = public.partition("://")
        if separator and scheme and rest.startswith(self.prefix + "/"):
            return f"{scheme}://{rest[len(self.prefix) + 1:]}"
        if public.startswith(self.prefix + "+"):
            return public[len(self.prefix) + 1:]
        return None

    def owns_uri(self, public: str) -> bool:
        return self.upstream_uri(public) is not None


def valid_tool_name(name: str) -> bool:
    return TOOL_NAME.match(name) is not None
