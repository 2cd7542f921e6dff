"""The one way Bosun builds a redis-py asyncio client, so every Redis user survives a Redis restart the same way.

A Redis restart (or failover, or a proxy dropping idle links) leaves every pooled connection dead. redis-py
8.1.0 hands such a connection out anyway: its check-out probe for a server-closed socket is skipped whenever
maintenance notifications are on, and with RESP3 they are on ("auto") by default (redis/redis-py#4252, fixed
upstream in #4260). Each dead connection then fails its next command with `Connection closed by server`, one
by one, and every Bosun user of Redis took that failure for a new outage: the session store went offline
again, the rate limiter failed open, the cache and the event store dropped writes.

So every client is built here with:
- maintenance notifications off (they serve Redis Enterprise's planned migrations, which Bosun does not ask
  for): the check-out probe works again and replaces a connection the server closed while it sat idle;
- one immediate retry of a command that fails with a connection error, on a fresh connection (redis-py's own
  `Retry`): a connection that died between check-out and use costs a reconnect, not an error. Timeouts are
  not retried: a hung Redis must cost one timeout, not two. A Redis that is really down still fails the
  command (the retry's connect is refused too), so outages are noticed at the first command, as before.
  A retried command may run twice if the link died after Redis ran it and before its reply: the commands
  Bosun sends are idempotent (SET, GET, DEL, EXPIRE) or tolerate that (a rate-limit script counts one request
  twice, a change-bus message arrives twice).

Imports nothing from Bosun: transport, security and data may all use it. redis is imported on call, so a
server that does not use Redis never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis


def redis_client(url: str, **options: Any) -> Redis:
    """`Redis.from_url(url, **options)` (timeouts, pool size, health checks as there), surviving a restart as above."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as LinkError

    try:
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:  # an older redis-py: no maintenance notifications, and the probe always runs
        quiet: dict[str, Any] = {}
    else:
        quiet = {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}
    return Redis.from_url(url, retry=Retry(NoBackoff(), 1, (LinkError,)), **quiet, **options)
