"""Calling a user function: validated arguments in, sync functions off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any

from bosun.app.context import Context
from bosun.app.inputs import InputRequired
from bosun.app.signature import Signature


async def invoke(fn: Callable[..., Any], signature: Signature, arguments: dict[str, Any], ctx: Context | None) -> Any:
    """Run `fn` with already-validated `arguments`.

    Async functions run on the loop; sync ones in the default thread pool with the
    caller's context variables, so a slow sync tool never stalls other requests.
    A function may return `InputRequired` instead of raising it; both end the same way.
    """
    if signature.context_param is not None:
        arguments[signature.context_param] = ctx
    if signature.is_async:
        value = await fn(**arguments)
    else:
        loop = asyncio.get_running_loop()
        run = contextvars.copy_context().run
        value = await loop.run_in_executor(None, functools.partial(run, fn, **arguments))
    if isinstance(value, InputRequired):
        raise value
    return value
