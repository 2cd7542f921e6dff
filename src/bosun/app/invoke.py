"""Calling a user function: validated arguments in, sync functions off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bosun.app.context import Context
from bosun.app.inputs import InputRequired
from bosun.app.signature import Signature
from bosun.app.threads import thread_hop


async def invoke(fn: Callable[..., Any], signature: Signature, arguments: dict[str, Any], ctx: Context | None) -> Any:
    """Run `fn` with already-validated `arguments`.

    Async functions run on the loop; sync ones on Bosun's worker threads (bosun/app/threads.py) with
    the caller's context variables, so a slow sync tool never stalls other requests, except
    those that provably cannot block (or whose author said so), which run inline.
    A function may return `InputRequired` instead of raising it; both end the same way.
    """
    if signature.context_param is not None:
        arguments[signature.context_param] = ctx
    if signature.is_async:
        value = await fn(**arguments)
    elif signature.inline:
        value = fn(**arguments)
    else:
        value = await thread_hop().run(fn, arguments)
    if isinstance(value, InputRequired):
        raise value
    return value
