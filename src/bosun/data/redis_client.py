"""The one way Bosun builds a redis-py asyncio client: one node, Sentinel or Cluster, plain or TLS, all from REDIS_URL.

`REDIS_URL` names the topology, so every Redis user (sessions, events, the change bus, rate limits, the cache) reaches
the same Redis the same way and no caller has to know which one it is:

- `redis://[[user]:password@]host:port/db`, `rediss://...` (TLS), `unix:///path?db=0`: one endpoint (a single node,
  or a managed service's primary endpoint or proxy);
- `redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]` (`rediss+sentinel://`: TLS to the data
  nodes and the sentinels): the primary the sentinels name, followed through failovers (`redis_topology`);
- `redis+cluster://[[user]:password@]host:port[,host:port...]` (`rediss+cluster://`): a Redis Cluster, any of its
  nodes as seeds (`redis_topology`).

Query options are redis-py's (`ssl_ca_certs`, `ssl_check_hostname`, `socket_timeout`, ...), plus `sentinel_username` and
`sentinel_password` for sentinels that require their own credentials. `BOSUN_REDIS_USERNAME`, `BOSUN_REDIS_PASSWORD`
and `BOSUN_REDIS_CA_FILE` are folded into the URL by `bosun.config`, so a password can live in a secret file of its own.

TLS is never given up silently: a CA file or another `ssl_*` option on a plaintext scheme is refused at start (the
operator meant TLS), as is a CA file that cannot be read; a server whose certificate the CA does not sign fails its
first command with redis-py's `CERTIFICATE_VERIFY_FAILED`, logged by the store that met it. Errors raised here name
the setting and the scheme, never the URL: it holds the password.

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

Imports nothing from Bosun but `bosun.config`'s error and its own topology module: transport, security and data may
all use it. redis is imported on call, so a server that does not use Redis never imports it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote

if TYPE_CHECKING:
    from redis.asyncio import Redis

SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://", "redis+cluster://",
           "rediss+cluster://")
_DEFAULT_PORTS = {"sentinel": 26379, "cluster": 6379}


def redis_client(url: str, **options: Any) -> Redis:
    """A client for REDIS_URL's topology, with `options` (timeouts, pool size, health checks) as `Redis.from_url` takes
    them; it survives a restart or a failover as above. Raises `ConfigError` for a URL it cannot serve safely."""
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
    retry = Retry(NoBackoff(), 1, (LinkError,))
    scheme = url.partition("://")[0].lower()
    kind = scheme.partition("+")[2]
    if kind in _DEFAULT_PORTS and scheme.partition("+")[0] in ("redis", "rediss"):
        from bosun.data import redis_topology

        tls = scheme.startswith("rediss")
        hosts, path, connection = _parts(url, scheme, _DEFAULT_PORTS[kind])
        if kind == "sentinel":
            return redis_topology.sentinel_client(hosts, path, connection, tls, {**options, **quiet, "retry": retry})
        if path.strip("/") not in ("", "0"):
            _refuse("REDIS_URL: a Redis Cluster has only database 0; a redis+cluster:// URL names no other")
        return redis_topology.cluster_client(hosts, connection, tls, {**options, **quiet})
    if f"{scheme}://" not in SCHEMES:
        _refuse(f"REDIS_URL: unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    _check_tls(scheme, _parse_url(url))
    return Redis.from_url(url, retry=retry, **quiet, **options)


def _refuse(message: str) -> NoReturn:
    from bosun.config import ConfigError

    raise ConfigError(message)


def _parse_url(url: str) -> dict[str, Any]:
    """redis-py's own reading of a one-node URL (typed query options); its errors never quote the URL."""
    from redis.asyncio.connection import parse_url

    try:
        return dict(parse_url(url))
    except ValueError as exc:
        _refuse(f"REDIS_URL: {exc}")


def _check_tls(scheme: str, connection: dict[str, Any]) -> None:
    """TLS options on a plaintext scheme mean the operator wanted TLS: refuse rather than connect in the clear."""
    ssl_options = sorted(name for name in connection if name.startswith("ssl_"))
    if not scheme.startswith("rediss") and ssl_options:
        _refuse(f"REDIS_URL: {', '.join(ssl_options)} (or BOSUN_REDIS_CA_FILE) given with the plaintext scheme {scheme}://; "
                f"use {scheme.replace('redis', 'rediss', 1)}:// so the connection is encrypted and the server verified")
    ca_file = connection.get("ssl_ca_certs")
    if ca_file and not os.access(str(ca_file), os.R_OK):
        _refuse(f"the Redis CA file {ca_file} (BOSUN_REDIS_CA_FILE or REDIS_URL's ssl_ca_certs) cannot be read")


def _parts(url: str, scheme: str, default_port: int) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """A many-host URL: (hosts, path, connection options for the data nodes, typed as redis-py types them)."""
    rest = url.split("://", 1)[1]
    ends = [index for index in (rest.find("/"), rest.find("?")) if index >= 0]
    end = min(ends) if ends else len(rest)
    userinfo, at, host_list = rest[:end].rpartition("@")
    path, _, query = rest[end:].partition("?")
    hosts = []
    for item in (item.strip() for item in host_list.split(",")):
        if not item:
            continue
        host, colon, port = item.rpartition(":") if not item.endswith("]") else (item, "", "")
        host = host if colon else item
        if not port.isdigit() and colon:
            _refuse(f"REDIS_URL: the port of a {scheme}:// host is not a number")
        hosts.append((unquote(host.strip("[]")), int(port) if colon else default_port))
    if not hosts:
        _refuse(f"REDIS_URL: a {scheme}:// URL names at least one host:port")
    one_node = "rediss" if scheme.startswith("rediss") else "redis"
    connection = _parse_url(f"{one_node}://{userinfo}{at}localhost" + (f"/?{query}" if query else ""))
    for name in ("host", "port", "connection_class"):
        connection.pop(name, None)
    _check_tls(scheme, connection)
    return hosts, path, connection
