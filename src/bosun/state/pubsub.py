"""One Redis pub/sub subscription, kept for as long as its task runs: what the change bus and the call relay share.

Subscribes, hands every message's payload on, says when Redis confirms the subscription (from then on nothing
published is missed) and when it is lost, and subscribes again a second after any failure, for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from bosun.ops.logs import Throttled


async def listen_forever(redis: Any, channel: str, on_message: Callable[[Any], None], on_subscribed: Callable[[bool], None],
                         warn: Throttled, lost: str) -> None:
    """`lost` is the warning logged (at most every 30 s) when Redis goes, with `%s` for the failure's type."""
    while True:
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            while True:
                message = await pubsub.get_message(timeout=30.0)
                if message is None:
                    continue
                if message.get("type") == "message":
                    on_message(message.get("data"))
                elif message.get("type") == "subscribe":
                    on_subscribed(True)
        except asyncio.CancelledError:
            on_subscribed(False)
            raise
        except Exception as failure:
            on_subscribed(False)
            warn.warning(lost, type(failure).__name__)
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
