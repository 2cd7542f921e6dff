"""Where pydocket 0.27.2 and redis-py 8.1.0 fall short on a Redis Cluster, closed for Bosun's docket engine.

Each gap stopped every task on a Cluster from running, with `/ready` still ready and only docket's warnings in the
log; tests/test_tasks_topologies.py shows each one, and fails if an upgrade of either library breaks a seam used
here. The seams are private attributes of those libraries, so every function leaves alone an object without them.
"""

from __future__ import annotations

import itertools
from typing import Any


def docket_url(url: str) -> str:
    """`REDIS_URL` as docket reads it. Docket parses a Cluster URL with `urlparse`, which takes one host, so it gets the
    first seed only (its cluster client finds every other node from one); every other form it reads as Bosun does."""
    scheme, _, rest = url.partition("://")
    if not scheme.endswith("+cluster"):
        return url
    end = min((index for index in (rest.find("/"), rest.find("?")) if index >= 0), default=len(rest))
    credentials, at, hosts = rest[:end].rpartition("@")
    return f"{scheme}://{credentials}{at}{hosts.split(',')[0]}{rest[end:]}"


def _cluster_node_options(url: str) -> dict[str, Any]:
    """The connection options a Cluster URL gives every node, as redis-py reads them: the credentials (percent-decoded)
    and the `ssl_*` query options (BOSUN_REDIS_CA_FILE arrives as `ssl_ca_certs`)."""
    from redis.asyncio.connection import parse_url

    scheme, _, rest = docket_url(url).partition("://")
    options = parse_url(f"{'rediss' if scheme.startswith('rediss') else 'redis'}://{rest}")
    return {name: value for name, value in options.items() if name in ("username", "password") or name.startswith("ssl_")}


def _following(base: type[Any], connection: Any) -> type[Any]:
    """`base` (redis-py's Connection or SSLConnection), connecting each time to the next node the cluster client knows
    rather than always to one: pub/sub on a Cluster reaches every node, so any will do, and a dead one is left behind at
    the next reconnect."""
    turn = itertools.count()

    class Following(base):  # type: ignore[misc]
        async def _connect(self) -> None:
            cluster = getattr(connection, "_cluster_client", None)
            nodes = cluster.get_nodes() if cluster is not None else []
            if nodes:
                node = nodes[next(turn) % len(nodes)]
                self.host, self.port = node.host, int(node.port)
            await super()._connect()

    return Following


def mend_pubsub(docket: Any, url: str) -> None:
    """On a Cluster, docket does its pub/sub (the cancel signals) through a pool of its own, to the primary its cluster
    client listed first when it started, built from the URL's host and scheme but not its options. With pydocket 0.27.2
    that pool (measured, two Bosun replicas on tests/redis_topologies.py's clusters):
    - had the password still percent-encoded and no `ssl_*` option, so an ACL password that needs encoding (`@`, `/`,
      `%`, ...) failed every AUTH and `rediss+cluster://` with a private CA (BOSUN_REDIS_CA_FILE) every handshake;
    - stayed on that primary for good, so once it died (its replica promoted) no reconnect could succeed.
    A worker takes no run until its cancel listener has subscribed, so each time no task ran again on any replica:
    they stayed `working`, `/ready` said ready, and the log had only docket's "Redis error in cancellation listener"
    warnings. So the pool gets the options the cluster client gets, and its connections follow the cluster's nodes
    (`_following`). A docket without these seams is left alone (tests/test_tasks_topologies.py would show it)."""
    connection = getattr(docket, "_redis", None)
    create = getattr(connection, "_create_node_pool", None)
    if connection is None or create is None:
        return
    options = _cluster_node_options(url)

    def create_node_pool() -> Any:
        pool = create()
        pool.connection_kwargs.update(options)
        pool.connection_class = _following(pool.connection_class, connection)
        return pool

    connection._create_node_pool = create_node_pool  # this instance's only: docket calls it on entering


def mend_keys(cluster: Any) -> None:
    """redis-py 8.1.0's asyncio cluster client learns the keys of a command whose keys move (XREADGROUP, docket's read
    of its stream) by asking one node, `COMMAND GETKEYS`, before its retry loop: the node that was its default when it
    last read the slot map. Once that node died, every such command failed with a connection error that never made the
    client read the map again, unless some other command met the dead node. Bosun's own stores spread over every slot
    and soon do; docket's keys share one slot, so when that slot lived elsewhere its worker read nothing ever again
    (measured: a primary killed, its replica promoted; no task ran on any replica, for good). Here the question goes to
    the next node the client knows when the one it asked cannot be reached: any node answers it the same."""
    from redis._parsers.commands import AsyncCommandsParser
    from redis.exceptions import ConnectionError as LinkError
    from redis.exceptions import TimeoutError as LinkTimeout

    parser = getattr(cluster, "commands_parser", None)
    if type(parser) is not AsyncCommandsParser:
        return

    class FollowingParser(AsyncCommandsParser):
        __slots__ = ()

        async def _get_moveable_keys(self, *args: Any) -> Any:
            asked = [self.node]
            while True:
                try:
                    return await super()._get_moveable_keys(*args)
                except (LinkError, LinkTimeout):
                    others = [node for node in cluster.get_nodes() if node not in asked]
                    if not others:
                        raise
                    self.node = others[0]
                    asked.append(self.node)

    parser.__class__ = FollowingParser  # the same object: the client re-initializes it after reading the slot map
