"""Completion handlers: the one signature they have, checked when they are registered.

    @server.completion(prompt="review", argument="language")
    def languages(value: str, arguments: dict[str, str]) -> list[str]:
        return [name for name in LANGUAGES if name.startswith(value)]

`value` is what the user has typed so far; `arguments` holds the values already given
for the prompt's (or template's) other arguments. The function may be `async def` and
returns the candidate strings, best first (at most 100 are sent). A function that cannot
be called that way fails at import, naming itself, rather than at a user's first keystroke.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bosun.app.registry import Registry

SIGNATURE = "fn(value: str, arguments: dict[str, str]) -> list[str] (def or async def)"


def check_completer(fn: Callable[..., Any], where: str) -> None:
    """Raise TypeError unless `fn` can be called as `fn(value, arguments)`."""
    if not callable(fn):
        raise TypeError(f"completion handler for {where} must be a function: {SIGNATURE}")
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without introspectable parameters: trust it
    try:
        signature.bind("", {})
    except TypeError as exc:
        raise TypeError(f"completion handler {name} for {where} cannot be called with (value, arguments): {exc}; "
                        f"expected {SIGNATURE}") from None
    returns = signature.return_annotation
    if isinstance(returns, str):
        returns = returns.replace(" ", "")
        refused = returns in ("str", "None", "int", "dict", "bool")
    else:
        refused = returns in (str, None, type(None), int, dict, bool)
    if refused:
        raise TypeError(f"completion handler {name} for {where} is annotated to return {returns}; "
                        f"it must return a list of strings: {SIGNATURE}")


def check_targets(registry: Registry) -> None:
    """Every completer names a registered prompt argument or template variable (a typo would never be called)."""
    for kind, target, argument in registry.completers:
        if kind == "ref/prompt":
            prompt = registry.prompts.get(target)
            known = [name for name, _, _ in prompt.signature.parameters] if prompt is not None else None
        else:
            template = next((t for t in registry.templates if t.uri_template == target), None)
            known = list(template.variables) if template is not None else None
        if known is None:
            raise ValueError(f"a completion handler is registered for {kind[4:]} {target!r}, which is not registered")
        if argument not in known:
            raise ValueError(f"a completion handler is registered for argument {argument!r} of {kind[4:]} {target!r}, "
                             f"which takes: {', '.join(known) or 'no arguments'}")
