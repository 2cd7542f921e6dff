"""The process's heap after start-up: out of the garbage collector's sight."""

from __future__ import annotations

import gc


def freeze_heap() -> None:
    """Move everything start-up built (modules, schemas, pools) out of the garbage collector's sight.

    A full collection otherwise walks that whole heap every so often, stalling the loop: measured at 64
    connections, p99 17.6 ms with a median of 3.7 ms; after freezing, p99 4.1-4.3 ms and 4 % more requests
    a second. What start-up built lives as long as the process, so nothing collectable is given up. Only the
    young generations are collected first: a full collection here found nothing to free and cost 12-23 ms
    of start-up (the old generation holds what imports built, which is not garbage).

    Called by whatever owns the process's life: the HTTP app's lifespan, or the stdio loop.
    """
    gc.collect(1)
    gc.freeze()
