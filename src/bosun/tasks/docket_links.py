"""Docket's connections retry a command once on a fresh connection when the pooled one is dead, as Bosun's own do.

pydocket 0.27.2 builds its connection pools from the URL with redis-py's default for a pool's connections: no retry.
After any Redis restart (with persistence or without) or a dropped connection, the first command on each pooled
connection fails. When that command was a worker's claim of a run it had just read, the worker gave up its whole
loop as if Redis were down, and the run stayed delivered to it until its lease lapsed: started one
`BOSUN_TASKS_REDELIVERY_SECONDS` late (measured: 3.1-4.0 s with a 3 s lease, where it otherwise starts in 13 ms).
`data.redis_client` gives Bosun's own clients one immediate retry on a connection error; this gives docket's pools
(the docket's and its strike list's, commands and pub/sub) the same, through their `connection_kwargs` (redis-py's
public constructor argument) and the connections they already hold. A Cluster's clients retry by their own rules.
"""

from __future__ import annotations

import copy
from typing import Any


def mend_retry(docket: Any) -> int:
    """Give each connection pool of `docket` (a Docket or its strike list) one retry on a connection error. Returns how
    many pools were mended; 0 for a docket without these seams (its tests would show it)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as LinkError

    retry = Retry(NoBackoff(), 1, (LinkError,))
    connection = getattr(docket, "_redis", None)
    mended = 0
    for name in ("_connection_pool", "_pubsub_pool"):
        pool = getattr(connection, name, None)
        kwargs = getattr(pool, "connection_kwargs", None)
        if not isinstance(kwargs, dict):
            continue
        kwargs["retry"] = retry  # each new connection copies it
        for held in [*getattr(pool, "_available_connections", ()), *getattr(pool, "_in_use_connections", ())]:
            held.retry = copy.deepcopy(retry)
        mended += 1
    return mended
