"""YAML frontmatter read the way hosts read it: the YAML 1.2 core schema, as the `yaml` package of Node does.

SEP-2640 requires an entry's `frontmatter` to be identical in content to what the `SKILL.md` holds,
and hosts parse the file themselves and compare field by field; a difference means they refuse the
skill. PyYAML's safe loader follows YAML 1.1, where `yes`, `on` and `off` are booleans, `0755` is
octal, `2026-01-01` is a date and `<<` merges mappings; a 1.2 parser reads all of those differently.
This loader keeps 1.2's core resolvers only, refuses what a JSON object cannot carry or 1.2 parsers
refuse (duplicate keys, aliases, non-string keys, non-finite numbers), so the entry Bosun publishes
is what a host reads from the file. PyYAML is imported here, on first use: a server without skills
never loads it.
"""

from __future__ import annotations

import math
import re
from typing import Any

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_DROPPED = {_BOOL, _INT, _FLOAT, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"}
_MAX_DEPTH = 32

_loader: Any = None


class FrontmatterError(ValueError):
    """The frontmatter is not YAML a host would read as the same JSON object."""


def _core_int(loader: Any, node: Any) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # 1.2: `0755` is seven hundred and fifty-five, not an octal


def _build() -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the dependency is declared; this says what to do if it is missing
        raise FrontmatterError("serving skills needs PyYAML to read SKILL.md frontmatter: pip install PyYAML") from None

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise FrontmatterError(f"YAML aliases (*{event.anchor}) are not allowed in frontmatter (line {event.start_mark.line + 1})")
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if type(key) is not str:
                    raise FrontmatterError(f"the key {key!r} is not a string (line {key_node.start_mark.line + 1})")
                if key in seen:
                    raise FrontmatterError(f"the key {key!r} appears twice (line {key_node.start_mark.line + 1})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    Loader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
    Loader.add_implicit_resolver(
        _FLOAT, re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+.0123456789"))
    Loader.add_constructor(_INT, _core_int)
    return Loader


def _check(value: Any, where: str, depth: int = 0) -> None:
    """Only what JSON can say, so the entry's `frontmatter` is the file's, value for value."""
    if depth > _MAX_DEPTH:
        raise FrontmatterError(f"{where} is nested more than {_MAX_DEPTH} levels deep")
    if value is None or type(value) in (str, bool, int):
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise FrontmatterError(f"{where} is {value}, which JSON cannot carry")
        return
    if type(value) is list:
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]", depth + 1)
        return
    if type(value) is dict:
        for key, item in value.items():
            _check(item, f"{where}.{key}", depth + 1)
        return
    raise FrontmatterError(f"{where} is a YAML {type(value).__name__}, which has no JSON form: quote it to make it a string")


def load_yaml(text: str) -> Any:
    """The frontmatter block as JSON-compatible data; raises FrontmatterError saying what and where."""
    global _loader
    if _loader is None:
        _loader = _build()
    import yaml

    try:
        value = yaml.load(text, Loader=_loader)  # noqa: S506 - a SafeLoader subclass with fewer resolvers
    except FrontmatterError:
        raise
    except yaml.YAMLError as failure:
        raise FrontmatterError(f"the frontmatter is not valid YAML: {failure}") from None
    _check(value, "the frontmatter")
    return value
