"""Redis Sentinel and Redis Cluster clients that look, to Bosun's stores, like the one-node client they were written for.

`redis_client` builds these from a `redis+sentinel://` or `redis+cluster://` URL; no store knows which it holds.

**Sentinel.** redis-py asks the sentinels for the primary only when it opens a connection, so a pool of open
connections keeps talking to the old primary after a failover, and the sentinels themselves name the new primary only
a second or more after their leader promoted it. After `SENTINEL FAILOVER` (or any failover where the old primary
stays up) what is written to the old primary meanwhile is lost when it resynchronises from the new one: with a client
that followed `+switch-master` alone, 29 to 47 calls of about 1,100 answered 404 for sessions opened in that second.
So each client listens to every sentinel (only the leader of a failover announces the promotion): at
`+failover-state-wait-promotion` it drops every connection of its pool, subscriptions included, and goes to the
promoted replica; at `+switch-master` it goes where the sentinels now point, if it is not there already; a
`-failover-abort-*` sends it back to the sentinels' answer. A command in flight when its connection is dropped is
retried once (`redis_client`). Costs one connection per sentinel per client.

**Cluster.** `RedisCluster` speaks the same commands, pipelines (grouped per node), WATCH/MULTI on one slot, Lua
scripts on one slot and pub/sub (PUBLISH and SUBSCRIBE reach the whole cluster). It lacks the `connection_pool` the
session store drops before it retries Redis, so it gains one here, and its pub/sub reads the slot map before each
subscription (the change bus subscribes before any other command, when redis-py's map is still empty, and subscribes
again after its node failed, when redis-py's map may still name the dead node). Keys a command,
script or transaction uses together must share a hash slot: each store puts the part they share in a `{hash tag}`
(tests/test_redis_topologies.py checks every family).

Imports nothing from Bosun but `bosun.config`'s error and `redis_moves`, where it records each move. Imported only
when REDIS_URL names one of these topologies.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from typing import Any, NoReturn

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, ClusterPubSub, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as LinkError

from bosun.data.redis_moves import moved

log = logging.getLogger("bosun.redis")
# What the sentinels announce: the leader has just told a replica to become the primary; a failover was given up;
# the sentinels now name a new primary.
_PROMOTING, _ABORTED, _SWITCHED = "+failover-state-wait-promotion", "-failover-abort-*", "+switch-master"
_PROMOTION_SECONDS = 10.0  # how long a promotion is believed before the sentinels confirm it (+switch-master)


class _FollowingPool(SentinelConnectionPool):
    """The primary's pool: it follows what the sentinels announce, at once, and empties itself at each change."""

    _watch: asyncio.Task[None] | None = None
    _promoted: tuple[str, int] | None = None  # the replica being promoted, until the sentinels confirm it
    _promoted_until = 0.0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._watch is None:  # the first command: there is a running loop now
            self._watch = asyncio.get_running_loop().create_task(self._follow())
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def get_master_address(self) -> Any:
        """The promoted replica from the moment the leader promotes it (the sentinels still name the old primary
        for a second or more, and what is written there meanwhile is lost), else the primary the sentinels name."""
        if self._promoted is not None and time.monotonic() < self._promoted_until:
            self.master_address = self._promoted
            return self._promoted
        self._promoted = None
        return await super().get_master_address()  # type: ignore[no-untyped-call]

    async def _follow(self) -> None:
        """Listen to every sentinel: only the leader of a failover announces the promotion."""
        sentinels: list[Redis] = self.sentinel_manager.sentinels
        await asyncio.gather(*(self._listen(sentinel) for sentinel in sentinels))

    async def _listen(self, sentinel: Redis) -> None:
        while True:
            pubsub = sentinel.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(_PROMOTING, _SWITCHED)
                await pubsub.psubscribe(_ABORTED)
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    data = message.get("data") if message else None
                    if isinstance(data, bytes):
                        await self._heard(str(message.get("channel"), errors="replace"), data.decode(errors="replace").split())
            except asyncio.CancelledError:
                raise
            except Exception:  # that sentinel is unreachable: the others are heard meanwhile
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _heard(self, channel: str, words: list[str]) -> None:
        # "+failover-state-wait-promotion slave <ip:port> <ip> <port> @ <service> <ip> <port>";
        # "+switch-master <service> <old ip> <old port> <new ip> <new port>"; an abort names the primary: "master <service> ...".
        if channel == _PROMOTING and len(words) >= 6 and words[4] == "@" and words[5] == self.service_name:
            self._promoted, self._promoted_until = (words[2], int(words[3])), time.monotonic() + _PROMOTION_SECONDS
            await self._reconnect(f"promoting {words[2]}:{words[3]}")
        elif channel == _SWITCHED and len(words) == 5 and words[0] == self.service_name:
            now = (words[3], int(words[4]))
            self._promoted = None
            if self.master_address != now:  # not already there through the promotion (each sentinel says it too)
                await self._reconnect(f"now {words[3]}:{words[4]}")
        elif channel.startswith("-failover-abort") and self.service_name in words[:2] and self._promoted is not None:
            self._promoted = None
            await self._reconnect("failover aborted")

    async def _reconnect(self, why: str) -> None:
        """Drop every connection (in use too: a command in flight fails and is retried once on a fresh one)."""
        log.warning("redis: the sentinels are moving %s to a new primary (%s); reconnecting", self.service_name, why)
        moved()  # what the old primary took last may be lost: stores answer a miss with "retry" for a moment
        self.master_address = None
        await self.disconnect(inuse_connections=True)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        with contextlib.suppress(Exception):
            await self.sentinel_manager.aclose()


class _SentinelRedis(Redis):
    """The primary's client; closing it also closes its sentinel connections and stops following them."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        await super().aclose(close_connection_pool)
        if isinstance(pool, _FollowingPool):
            await pool.stop()


def sentinel_client(hosts: list[tuple[str, int]], path: str, connection: dict[str, Any], tls: bool,
                    options: dict[str, Any]) -> Redis:
    """The client of the primary that the sentinels at `hosts` name for the service in `path` (`/service[/db]`)."""
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        _refuse("REDIS_URL: a redis+sentinel:// URL ends with the service name and an optional database number, "
                "as in redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster/0")
    sentinel_options = {name: value for name, value in options.items()
                        if name.startswith("socket_") or name == "maint_notifications_config"}
    for name in ("username", "password"):
        if (value := connection.pop(f"sentinel_{name}", None)) is not None:
            sentinel_options[name] = value
    if tls:
        sentinel_options.update({name: value for name, value in connection.items() if name.startswith("ssl_")}, ssl=True)
    connection.pop("db", None)
    manager = Sentinel(hosts, sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    client: Redis = manager.master_for(parts[0], redis_class=_SentinelRedis, connection_pool_class=_FollowingPool,
                                       db=int(parts[1]) if len(parts) == 2 else 0, ssl=tls, **{**options, **connection})
    return client


class _ClusterPool:
    """What the session store asks of a pool: drop the pooled connections of every node."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster

    def get_encoder(self) -> Any:
        return self.cluster.get_encoder()

    async def disconnect(self, inuse_connections: bool = True) -> None:
        for node in self.cluster.get_nodes():
            await (node.disconnect() if inuse_connections else node.disconnect_free_connections())


class _ClusterPubSub(ClusterPubSub):
    """redis-py picks the node for a subscription from its slot map, and reads that map again only when one of the
    client's own commands fails: a subscription's failures do not count. So the map is read before each subscription:
    it is empty until the client's first command (the change bus subscribes before any), and after the node a change
    bus listened to was killed, the bus went back to the dead node every second, long after its replica had taken over,
    unless a command of its own happened to fail (tests/test_redis_cluster_failover.py: 0 of 5 changes heard)."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self.connection is None:
            await self.cluster.initialize()  # the first time: the client's whole set-up, else nothing
            await self.cluster.nodes_manager.initialize()  # the slot map as the cluster says it is now
        return await super().execute_command(*args, **kwargs)


class _Cluster(RedisCluster):
    __slots__ = ()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """The slot map first. redis-py chooses a command's routing before it reads the map, and a client with no map
        yet (its first commands, or after `aclose`) sends keyed commands to one node. Two dozen MCP `initialize`
        requests at once on a fresh replica drew MOVED replies, the map was re-read under them, and connections were
        closed while other commands still used them: 1 to 7 of 24 answered 500 (a RuntimeError or AttributeError,
        which no store catches as a Redis failure). A no-op once the map is read; pipelines read it themselves.

        A failover does the same to commands in flight: the map is re-read on a MOVED reply and a connection another
        command is writing on is closed under it (6 calls of 3,066 answered 500 in one CLUSTER FAILOVER run). Such an
        error is a connection lost, and is raised as one: the stores then answer as for any Redis failure."""
        await self.initialize()
        try:
            return await super().execute_command(*args, **kwargs)
        except (AttributeError, RuntimeError) as lost:  # redis-py's writer gone, or asyncio's transport closed
            raise LinkError(f"connection closed under the command ({type(lost).__name__}: {lost})") from lost

    @property
    def connection_pool(self) -> _ClusterPool:
        return _ClusterPool(self)

    def pubsub(self, node: ClusterNode | None = None, host: str | None = None, port: int | None = None,
               **kwargs: Any) -> ClusterPubSub:
        return _ClusterPubSub(self, node=node, host=host, port=port, **kwargs)


def _refuse(message: str) -> NoReturn:
    from bosun.config import ConfigError

    raise ConfigError(message)


_CLUSTER_ARGUMENTS = frozenset(inspect.signature(RedisCluster.__init__).parameters) - {"self", "host", "port"}


def cluster_client(hosts: list[tuple[str, int]], connection: dict[str, Any], tls: bool, options: dict[str, Any]) -> Redis:
    """A cluster client seeded with `hosts`; one immediate retry (redis-py re-reads the slot map before it)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    if connection.pop("db", 0):
        _refuse("REDIS_URL: a Redis Cluster has only database 0")
    unknown = sorted(set(connection) - _CLUSTER_ARGUMENTS)
    if unknown:
        _refuse(f"REDIS_URL: {', '.join(unknown)} is not an option of a redis+cluster:// URL")
    arguments = {name: value for name, value in options.items() if name in _CLUSTER_ARGUMENTS}  # no retry_on_timeout
    client: Redis = _Cluster(startup_nodes=[ClusterNode(host, port) for host, port in hosts], ssl=tls,  # type: ignore[assignment]
                             retry=Retry(NoBackoff(), 1), **{**arguments, **connection})
    return client  # typed as the one-node client its users were written for (the commands they use are the same)
