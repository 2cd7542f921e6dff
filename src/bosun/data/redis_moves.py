"""When this process last saw Redis move its primary: a Sentinel failover that its clients followed.

Redis replicates asynchronously, so a failover may lose what the old primary took in its last moments (a session
opened there). A store that finds a key missing just after a move cannot tell that from a key that never was, and
should answer "try again" rather than "not found" for a moment (`state.sessions.redis_store`'s settle window). The
Sentinel client (`redis_topology`) records each move here; every store in the process reads it. Imports nothing.
"""

from __future__ import annotations

import math
import time

_last_move = -math.inf


def moved() -> None:
    """A client of this process is moving to a new primary now."""
    global _last_move
    _last_move = time.monotonic()


def last_moved() -> float:
    """When a client of this process last moved to a new primary (`time.monotonic`), or -inf."""
    return _last_move
